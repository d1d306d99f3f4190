// The ledger sequencer: concurrent verdicts wait in ledger_pending instead of racing for the head,
// and one writer chains them; entries whose call never came are chained by the next call or the
// cron; a head moved behind the sequencer's back costs one failed call, not the chain.
import {
  createExecutionContext,
  createScheduledController,
  env,
  evictDurableObject,
  waitOnExecutionContext,
} from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../shared/canonical.ts';
import { entryHash, LEDGER_INSERT_SQL, ledgerRow, verifyChain } from '../../shared/ledger.ts';
import { TAU_BPB } from '../../shared/verify.ts';
import worker from './index.ts';
import { commitPlanned, ledgerHead, type NewEntry } from './ledger.ts';
import { sequenceLedger } from './ledger-sequencer.ts';
import { seedCampaign } from '../test/helpers.ts';
import { ledgerEntries, ledgerRows, peer } from '../test/trust.ts';

const pendingCount = async () =>
  (await env.DB.prepare('SELECT COUNT(*) AS n FROM ledger_pending').first<{ n: number }>())!.n;

/** Commits entries the way a decision does, without calling the sequencer after. */
async function commitWithoutCall(...keys: string[]): Promise<void> {
  const entries: NewEntry[] = keys.map((key) => ({
    key,
    kind: 'dispute',
    experimentId: key,
    resultId: null,
    volunteerId: null,
  }));
  await commitPlanned(env.DB, async () => ({ statements: [], entries }), Date.now());
}

const sequencer = () => env.LEDGER_SEQUENCER.get(env.LEDGER_SEQUENCER.idFromName('ledger'));

describe('the ledger sequencer', () => {
  it('chains verdicts that arrive together without a busy answer or a gap', async () => {
    const n = 8;
    await seedCampaign('c1', n);
    const peers = [];
    for (let i = 0; i < 2 * n; i++) peers.push(await peer({ backend: i % 2 ? 'wasm' : 'webgpu' }));
    const leases = await Promise.all(peers.map(async (p) => [p, (await p.lease('c1'))!] as const));
    const perExperiment = new Map<string, number>();
    for (const [, l] of leases)
      perExperiment.set(l.experimentId, (perExperiment.get(l.experimentId) ?? 0) + 1);
    expect([...perExperiment.values()]).toEqual(Array.from({ length: n }, () => 2));
    // Replicas agree within TAU and never byte for byte (identical metrics read as a copy).
    const pairs = leases.map(([p, l], i) => p.submit(l, 3.0 + (i / (4 * n)) * TAU_BPB));
    const answers = await Promise.all(pairs);
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 201));
    expect(await pendingCount()).toBe(0);
    const rows = await ledgerRows();
    expect(await verifyChain(rows)).toMatchObject({ ok: true, entries: rows.length });
    const kinds = (await ledgerEntries()).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'verdict')).toHaveLength(2 * n);
    expect(kinds.filter((k) => k === 'credit')).toHaveLength(2 * n);
  });

  it('chains entries whose call never came on the next call, and on the cron', async () => {
    await commitWithoutCall('a', 'b');
    expect(await ledgerRows()).toHaveLength(0);
    expect(await pendingCount()).toBe(2);
    expect(await sequencer().sequence()).toBe(2);
    await commitWithoutCall('c');
    const ctx = createExecutionContext();
    worker.scheduled(createScheduledController(), env, ctx);
    await waitOnExecutionContext(ctx);
    const rows = await ledgerRows();
    expect(rows.map((r) => JSON.parse(r.entry).experimentId)).toEqual(['a', 'b', 'c']);
    expect((await verifyChain(rows)).ok).toBe(true);
    expect(await pendingCount()).toBe(0);
  });

  it('records a key once across waiting and chained entries', async () => {
    const wait = (key: string) =>
      env.DB.prepare("INSERT INTO ledger_pending (key, entry, at) VALUES (?, '{}', 0)")
        .bind(key)
        .run();
    await commitWithoutCall('a');
    await sequenceLedger(env);
    await expect(wait('a')).rejects.toThrow(/ledger\.key/);
    await wait('b');
    await expect(wait('b')).rejects.toThrow(/ledger_pending\.key/);
    expect(await pendingCount()).toBe(1);
  });

  it('reads the head again after another writer moved it, and after a restart', async () => {
    await commitWithoutCall('a');
    await sequenceLedger(env); // the object now holds the head in memory
    // An operator's repair appends behind its back.
    const head = await ledgerHead(env.DB);
    const entry = {
      seq: head.seq + 1,
      at: Date.now(),
      kind: 'dispute' as const,
      experimentId: 'repair',
      resultId: null,
      volunteerId: null,
    };
    const json = canonicalJson(entry);
    const hash = await entryHash(head.hash, json);
    await env.DB.prepare(LEDGER_INSERT_SQL)
      .bind(...ledgerRow('repair', entry, json, head.hash, hash))
      .run();
    await commitWithoutCall('b');
    await sequenceLedger(env); // fails on ledger.seq, logs, and forgets the head: b still waits
    expect(await pendingCount()).toBe(1);
    expect(await sequencer().sequence()).toBe(1); // read the head again: chained after the repair
    await commitWithoutCall('c');
    await evictDurableObject(sequencer()); // a restarted object starts without a head
    expect(await sequencer().sequence()).toBe(1);
    const rows = await ledgerRows();
    expect(rows.map((r) => JSON.parse(r.entry).experimentId)).toEqual(['a', 'repair', 'b', 'c']);
    expect((await verifyChain(rows)).ok).toBe(true);
  });
});
