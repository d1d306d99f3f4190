// Cases for the trust primitives that must agree across runtimes: checkpoint commitments and the
// ledger's hash chain. Run by shared/trust.test.ts (Node) and edge/test/trust-primitives.test.ts
// (workerd). The pinned commitment was cross-checked with an independent Python implementation
// (hashlib + struct.pack('<f') + json.dumps(sort_keys=True, separators=(',', ':'))).
import { expect } from 'vitest';
import { canonicalJson } from '../canonical.ts';
import {
  checkpointCommitment,
  commitmentIssue,
  commitSteps,
  earlyAgree,
  earlySegments,
  spotCheckAgrees,
  TAU_SPOT,
  type CommittedState,
} from '../commit.ts';
import {
  creditTotals,
  entryHash,
  GENESIS_HASH,
  verifyChain,
  type LedgerEntry,
  type LedgerRow,
} from '../ledger.ts';
import { PRESETS } from '../model/presets.ts';
import { sha256 } from '../crypto.ts';

function state(): CommittedState {
  return {
    step: 2,
    losses: [4.17, 4.05],
    weights: [Float32Array.of(0.5, -1.25, 3e-8), Float32Array.of(2)],
    optimizer: {
      t: 2,
      m: [Float32Array.of(0.1, 0.2, 0.3), Float32Array.of(0)],
      v: [Float32Array.of(1e-3, 2e-3, 3e-3), Float32Array.of(0)],
    },
    batchRng: [1, 2, 3, 4],
  };
}
const SPEC_HASH = 'ab'.repeat(32);
const PINNED = '4994ca4107c9c763c948552bed5642568edad1bd6881ad2a7f1575487fca839f';

async function chain(entries: Omit<LedgerEntry, 'seq' | 'at'>[]): Promise<LedgerRow[]> {
  const rows: LedgerRow[] = [];
  let prev = GENESIS_HASH;
  for (const [i, e] of entries.entries()) {
    const entry = canonicalJson({ ...e, seq: i + 1, at: 1_800_000_000_000 + i });
    const hash = await entryHash(prev, entry);
    rows.push({ seq: i + 1, prevHash: prev, hash, entry });
    prev = hash;
  }
  return rows;
}

const ENTRIES: Omit<LedgerEntry, 'seq' | 'at'>[] = [
  {
    kind: 'verdict',
    experimentId: 'c1-0',
    resultId: 'r_a',
    volunteerId: 'v_a',
    verdict: 'valid',
    basis: 'quorum',
    valBpb: 3.005,
  },
  { kind: 'credit', experimentId: 'c1-0', resultId: 'r_a', volunteerId: 'v_a', flops: 1.5e12 },
  {
    kind: 'verdict',
    experimentId: 'c1-0',
    resultId: 'r_b',
    volunteerId: 'v_b',
    verdict: 'invalid',
    basis: 'outvoted',
    valBpb: 3.005,
  },
  { kind: 'revoke', experimentId: 'c1-0', resultId: 'r_a', volunteerId: 'v_a', flops: 1.5e12 },
];

export const trustCases: [string, () => Promise<void> | void][] = [
  [
    'commit steps are the curve boundaries, thinned to 16, ending at the last step',
    () => {
      expect(commitSteps(PRESETS.tiny.train)).toEqual([10, 20, 30]);
      expect(commitSteps(PRESETS.demo.train)).toEqual([50, 100, 150, 200, 250, 300]);
      const cpu = commitSteps(PRESETS['nanogpt-cpu'].train); // 20 segments of 100 steps
      expect(cpu).toHaveLength(16);
      expect(cpu.at(-1)).toBe(2000);
      expect(cpu.every((s, i) => s % 100 === 0 && (i === 0 || s > cpu[i - 1]!))).toBe(true);
      expect(commitSteps({ ...PRESETS.tiny.train, steps: 25 })).toEqual([10, 20, 25]);
    },
  ],
  [
    'a checkpoint commitment is pinned and moves with every bit of the state',
    async () => {
      expect(await checkpointCommitment(SPEC_HASH, state())).toBe(PINNED);
      const flips: ((s: CommittedState) => void)[] = [
        (s) => {
          s.weights[0]![2] = 3.0000003e-8;
        },
        (s) => {
          s.optimizer.v[1]![0] = 1e-30;
        },
        (s) => {
          s.optimizer.t = 3;
        },
        (s) => {
          s.losses[1] = 4.0500001;
        },
        (s) => {
          s.batchRng = [1, 2, 3, 5];
        },
        (s) => {
          s.weights = [Float32Array.of(0.5, -1.25), Float32Array.of(3e-8, 2)];
        }, // same bytes, other split
      ];
      const seen = new Set([PINNED]);
      for (const flip of flips) {
        const s = state();
        flip(s);
        seen.add(await checkpointCommitment(SPEC_HASH, s));
      }
      seen.add(await checkpointCommitment('cd'.repeat(32), state()));
      expect(seen.size).toBe(flips.length + 2);
      await expect(checkpointCommitment(SPEC_HASH, { ...state(), step: 3 })).rejects.toThrow(
        /losses/,
      );
    },
  ],
  [
    'a result carries one commitment per commit step, or none',
    () => {
      const spec = { train: PRESETS.tiny.train } as Parameters<typeof commitmentIssue>[0];
      expect(commitmentIssue(spec, {})).toBeNull();
      expect(
        commitmentIssue(spec, { commitments: ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)] }),
      ).toBeNull();
      expect(commitmentIssue(spec, { commitments: ['a'.repeat(64), 'b'.repeat(64)] })).toMatch(
        /fixes 3/,
      );
      expect(
        commitmentIssue(spec, { commitments: ['a'.repeat(64), 'a'.repeat(64), 'c'.repeat(64)] }),
      ).toMatch(/twice/);
    },
  ],
  [
    'the early window covers the segments ending by step 200, without dropout, in float32',
    () => {
      const spec = (name: keyof typeof PRESETS) => ({
        model: { ...PRESETS[name].model, vocabSize: 65 },
        train: PRESETS[name].train,
      });
      expect(earlySegments(spec('tiny'), undefined)).toBe(3);
      expect(earlySegments(spec('demo'), 'float32')).toBe(4);
      expect(earlySegments(spec('nanogpt-cpu'), undefined)).toBe(2);
      expect(earlySegments(spec('nanogpt-gpu'), undefined)).toBe(0); // dropout 0.2
      expect(earlySegments(spec('demo'), 'float16')).toBe(0);
      expect(earlyAgree([3.5, 3.2, 3.0], [3.5 + 5e-4, 3.2, 2.9], 2)).toBe(true);
      expect(earlyAgree([3.5, 3.2], [3.5, 3.2 + 2e-3], 2)).toBe(false);
    },
  ],
  [
    'a spot check agrees within TAU_SPOT on every segment',
    () => {
      expect(spotCheckAgrees([3.5, 3.4], [3.5 + TAU_SPOT / 2, 3.4])).toBe(true);
      expect(spotCheckAgrees([3.5, 3.4], [3.5, 3.4 + 2 * TAU_SPOT])).toBe(false);
      expect(spotCheckAgrees([3.5], [3.5, 3.4])).toBe(false);
    },
  ],
  [
    'each ledger hash is SHA-256 of the previous hash followed by the canonical entry',
    async () => {
      const rows = await chain(ENTRIES);
      expect(rows[0]!.hash).toBe(await sha256(GENESIS_HASH + rows[0]!.entry));
      expect(rows[1]!.prevHash).toBe(rows[0]!.hash);
      expect(await verifyChain(rows)).toEqual({
        ok: true,
        entries: 4,
        head: { seq: 4, hash: rows[3]!.hash },
      });
      // A verified prefix can be extended from its head alone.
      expect((await verifyChain(rows.slice(2), { seq: 2, hash: rows[1]!.hash })).ok).toBe(true);
      expect(creditTotals(rows.map((r) => JSON.parse(r.entry) as LedgerEntry))).toEqual(
        new Map([['v_a', 0]]),
      );
    },
  ],
  [
    'the chain check finds an altered, dropped, reordered or re-serialised entry',
    async () => {
      const rows = await chain(ENTRIES);
      const altered = rows.map((r) => ({ ...r }));
      altered[1]!.entry = altered[1]!.entry.replace('1500000000000', '2500000000000');
      expect((await verifyChain(altered)).problem).toEqual({
        seq: 2,
        message: expect.stringMatching(/altered/),
      });
      expect((await verifyChain([rows[0]!, rows[2]!, rows[3]!])).problem?.seq).toBe(3);
      expect((await verifyChain([rows[1]!, rows[0]!])).problem?.seq).toBe(2);
      const spaced = rows.map((r) => ({ ...r }));
      spaced[2]!.entry = JSON.stringify(JSON.parse(spaced[2]!.entry), null, 1);
      expect((await verifyChain(spaced)).problem).toEqual({
        seq: 3,
        message: expect.stringMatching(/canonical/),
      });
      // Rewriting an entry and re-hashing everything after it still breaks at the first rewritten
      // hash for anyone who kept an earlier head.
      const forged = await chain([
        ENTRIES[0]!,
        { ...ENTRIES[1]!, flops: 9e12 },
        ENTRIES[2]!,
        ENTRIES[3]!,
      ]);
      expect((await verifyChain(forged)).ok).toBe(true);
      expect(forged[3]!.hash).not.toBe(rows[3]!.hash);
    },
  ],
];
