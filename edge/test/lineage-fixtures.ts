// Lineage fixtures for the edge's tests: made-up training states consistent with one another,
// two volunteers that verify what the queue hands them, and their checkpoint uploads.
import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import {
  checkpointCommitment,
  commitSteps,
  encodeCheckpoint,
  type CommittedState,
} from '../../shared/commit.ts';
import type { Lease, ResultResponse } from '../../shared/protocol.ts';
import { startStep } from '../../shared/spec.ts';
import { TAU_BPB } from '../../shared/verify.ts';
import { peer, put, type Peer } from './trust.ts';

/**
 * Made-up training states for a lease, consistent with one another: the losses so far (`prefix`,
 * the parent's, first), a state at each commit step, the result's curve and commitments, and the
 * final checkpoint's blob. Replicas' weights differ (as across backends: equal commitments would
 * be a copy).
 */
export async function run(
  lease: Lease,
  prefix: number[],
  replica = 0,
  start = startStep(lease.spec),
) {
  const spec = lease.spec;
  // The losses a run through the parent gives; a cheat may number its states from elsewhere (start).
  const own = Array.from({ length: spec.train.steps }, (_, i) => 4 - (startStep(spec) + i) * 0.01);
  const losses = [...prefix, ...own];
  const states = commitSteps(spec.train).map((k): CommittedState => ({
    step: start + k,
    losses: losses.slice(0, start + k),
    weights: [Float32Array.from([start + k, replica]), Float32Array.from([0.5])],
    optimizer: {
      t: start + k,
      m: [new Float32Array(2), new Float32Array(1)],
      v: [new Float32Array(2), new Float32Array(1)],
    },
    batchRng: [1, 2, 3, start + k],
  }));
  const every = spec.train.curveEvery;
  const curve = Array.from({ length: Math.ceil(own.length / every) }, (_, i) => {
    const seg = own.slice(i * every, (i + 1) * every);
    return seg.reduce((a, b) => a + b, 0) / seg.length;
  });
  const commitments = await Promise.all(states.map((s) => checkpointCommitment(lease.specHash, s)));
  return {
    losses,
    curve,
    commitments,
    final: await encodeCheckpoint(lease.specHash, states.at(-1)!),
  };
}

export type Replica = Awaited<ReturnType<typeof run>> & {
  peer: Peer;
  lease: Lease;
  response: ResultResponse;
};

export const upload = (r: Replica, bytes = r.final.bytes) =>
  put(r.peer, r.response.checkpoint!.path, bytes);

/** Two volunteers on other backends; without addresses (as local browsers), two verify each other. */
export const twoPeers = async (): Promise<[Peer, Peer]> => [
  await peer({ backend: 'webgpu', browser: 'chromium' }),
  await peer({ backend: 'wasm', browser: 'firefox' }),
];

/**
 * Two peers verify every experiment of an adaptive campaign, in the order the queue hands them
 * out, each from its parent's chosen checkpoint's losses, until none is open; `bpb` gives each
 * experiment's val_bpb.
 */
export async function runToTheEnd(
  peers: [Peer, Peer],
  campaignId: string,
  bpb: (id: string) => number,
): Promise<void> {
  const lossesOf = new Map<string, number[]>();
  for (;;) {
    const lease = await peers[0].lease(campaignId);
    if (!lease) break;
    const prefix = lease.spec.parent ? lossesOf.get(lease.spec.parent.experimentId)! : [];
    const [first, second] = await verifySegmentFrom(peers, lease, prefix, bpb(lease.experimentId));
    for (const r of [first!, second!]) await upload(r);
    lossesOf.set(lease.experimentId, first!.losses);
  }
  const open = await env.DB.prepare(
    'SELECT COUNT(*) AS n FROM experiments WHERE campaign_id = ? AND status = ?',
  )
    .bind(campaignId, 'open')
    .first<{ n: number }>();
  expect(open!.n).toBe(0);
}

/** verifySegment, for a lease the first peer already holds. */
export async function verifySegmentFrom(
  peers: [Peer, Peer],
  lease: Lease,
  prefix: number[],
  valBpb: number,
): Promise<Replica[]> {
  const out: Replica[] = [];
  for (const [i, p] of peers.entries()) {
    const l = i === 0 ? lease : (await p.lease(lease.campaignId))!;
    expect(l.experimentId).toBe(lease.experimentId);
    const r = await run(l, prefix, i);
    const res = await p.submit(l, valBpb + (i * TAU_BPB) / 4, {
      curve: r.curve,
      commitments: r.commitments,
    });
    expect(res.status).toBe(201);
    out.push({ peer: p, lease: l, ...r, response: (await res.json()) as ResultResponse });
  }
  expect(out[1]!.response.experimentStatus).toBe('verified');
  return out.sort((x, y) => (x.response.resultId < y.response.resultId ? -1 : 1));
}
