// Trust routes: a volunteer's standing, spot-check leases and their outcomes, and commitments.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { sha256, signCanonical } from '../../../shared/crypto.ts';
import {
  checkpointCommitment,
  encodeCheckpoint,
  type CommittedState,
} from '../../../shared/commit.ts';
import {
  LEASE_TOKEN_HEADER,
  type Lease,
  type ResultResponse,
  type VolunteerTrust,
} from '../../../shared/protocol.ts';
import { REVEAL_WINDOW_MS } from '../trust/policy.ts';
import { expireReveals } from '../trust/spot-checks.ts';
import { spotCheckFor } from '../../../shared/volunteer-client.ts';
import { api, seedCampaign } from '../../test/helpers.ts';
import {
  experimentState,
  findDrawKey,
  peer,
  put,
  setDrawKey,
  setRecord,
  type Peer,
} from '../../test/trust.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import { RAC_HALF_LIFE_DAYS } from '../trust/credit.ts';

describe('GET /api/volunteers/:id', () => {
  it('shows reputation, credit with its recent average, results and per-class replication', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [await peer({ backend: 'webgpu' }), await peer({ backend: 'wasm' })];
    const [la, lb] = [(await a.lease())!, (await b.lease())!];
    await a.submit(la, 3.0);
    await b.submit(lb, 3.0 + TAU_BPB / 4);
    const { flops } = (await env.DB.prepare('SELECT flops FROM experiments').first<{
      flops: number;
    }>())!;
    const res = await api(`/api/volunteers/${a.id}`);
    expect(res.status).toBe(200);
    const t = (await res.json()) as VolunteerTrust;
    expect(t).toMatchObject({
      volunteerId: a.id,
      reputation: 2,
      openLeaseQuota: 2,
      results: { valid: 1, invalid: 0, pending: 0, trustedSingle: 0 },
      classes: [
        {
          backendClass: 'webgpu',
          consecutiveValid: 1,
          valid: 1,
          invalid: 0,
          replicationProbability: 1,
        },
      ],
    });
    expect(t.credit.total).toBe(flops);
    expect(t.rank).toBe(1); // a and b share the top credit
    const newcomer = await peer({ backend: 'cpu' });
    expect(
      ((await (await api(`/api/volunteers/${newcomer.id}`)).json()) as VolunteerTrust).rank,
    ).toBeNull();
    // Just granted: the decayed sum's rate is credit · ln 2 / half-life per day.
    expect(t.credit.recentAverage).toBeCloseTo((flops * Math.LN2) / RAC_HALF_LIFE_DAYS, -3);
  });

  it('refuses a malformed id and answers 404 for an unknown one', async () => {
    expect((await api('/api/volunteers/nope')).status).toBe(400);
    const res = await api(`/api/volunteers/v_${'0'.repeat(32)}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'unknown_volunteer' });
  });
});

/** A trusted volunteer's lease on c1-0, drawn to stand alone, and the id its result will get. */
async function trustedSingleLease() {
  await seedCampaign('c1', 2);
  const t = await peer({ backend: 'wasm' }, '192.0.2.1');
  await setRecord(t.id, 'wasm', 10);
  await setDrawKey(await findDrawKey([[`replicate:${t.id}:0`, (u) => u > 0.5]]));
  const lease = (await t.lease())!;
  // The spot-check draws happen when the result is accepted, keyed on the result id (from the lease id).
  return { t, lease, resultId: 'r_' + (await sha256(lease.leaseId)).slice(0, 24) };
}

/** A trusted-single result on c1-0 whose acceptance also drew a spot check. */
async function spotChecked(): Promise<void> {
  const { t, lease, resultId } = await trustedSingleLease();
  await setDrawKey(await findDrawKey([[`spot:${resultId}`, (u) => u < 0.1]]));
  await t.submit(lease, 3.1);
  expect(await experimentState('c1-0')).toMatchObject({ verification: 'trusted-single' });
}

async function expectedFirst(): Promise<number> {
  const row = await env.DB.prepare('SELECT expected_json AS e FROM spot_checks').first<{
    e: string;
  }>();
  return (JSON.parse(row!.e) as number[])[0]!;
}

async function submitSpot(v: Peer, lease: Lease, curve: number[]): Promise<Response> {
  const result = spotCheckFor(lease, curve);
  return v.post('/api/results/spot-checks', {
    result,
    signature: await signCanonical(v.keys.privateKey, result),
  });
}

describe('spot checks', () => {
  it('are leased only to clients that declare them, never to the checked volunteer', async () => {
    await spotChecked();
    const plain = await peer({ backend: 'cpu' }, '192.0.2.2');
    expect((await plain.lease())!.kind).toBeUndefined();
    const checker = await peer({ backend: 'cpu', spotChecks: true }, '192.0.2.3');
    const lease = (await checker.lease())!;
    expect(lease).toMatchObject({
      kind: 'spot-check',
      experimentId: 'c1-0',
      spotCheck: { toStep: 10, submitPath: '/api/results/spot-checks' },
    });
    const again = await peer({ backend: 'cpu', spotChecks: true }, '192.0.2.4');
    expect((await again.lease())!.kind).toBeUndefined(); // the one spot check is taken
  });

  it('pass when the first segment matches within TAU_SPOT', async () => {
    await spotChecked();
    const first = await expectedFirst();
    const checker = await peer({ backend: 'cpu', spotChecks: true }, '192.0.2.3');
    const lease = (await checker.lease())!;
    expect((await submitSpot(checker, lease, [first, 1])).status).toBe(422); // one segment, not two
    expect((await submitSpot(checker, lease, [first + 2e-4])).status).toBe(201);
    expect(await (await submitSpot(checker, lease, [first + 2e-4])).json()).toMatchObject({
      duplicate: true,
    });
    expect(await experimentState('c1-0')).toMatchObject({ status: 'verified', audit: 0 });
  });

  it('reopen the experiment for a quorum when the segment does not match', async () => {
    await spotChecked();
    const checker = await peer({ backend: 'webgpu', spotChecks: true }, '192.0.2.5');
    const lease = (await checker.lease())!;
    expect((await submitSpot(checker, lease, [(await expectedFirst()) + 0.05])).status).toBe(201);
    expect(await experimentState('c1-0')).toMatchObject({
      status: 'open',
      audit: 1,
      replicasNeeded: 2,
    });
  });

  it('refuses a spot check from another volunteer or with a wrong token', async () => {
    await spotChecked();
    const checker = await peer({ backend: 'cpu', spotChecks: true }, '192.0.2.3');
    const lease = (await checker.lease())!;
    const thief = await peer({ backend: 'cpu' }, '192.0.2.9');
    expect(await (await submitSpot(thief, lease, [3])).json()).toMatchObject({
      error: 'foreign_lease',
    });
    expect(
      await (await submitSpot(checker, { ...lease, leaseToken: 'x'.repeat(43) }, [3])).json(),
    ).toMatchObject({ error: 'foreign_lease' });
  });
});

describe('checkpoint commitments', () => {
  it('are stored with the result when there is one per commit step, and refused otherwise', async () => {
    await seedCampaign('c1', 1);
    const a = await peer({ backend: 'wasm' });
    const lease = (await a.lease())!;
    const bad = await a.submit(lease, 3.0, { commitments: ['a'.repeat(64)] });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ error: 'commitment_mismatch' });
    const commitments = ['a', 'b', 'c'].map((x) => x.repeat(64));
    expect((await a.submit(lease, 3.0, { commitments })).status).toBe(201);
    const row = await env.DB.prepare('SELECT metrics_json AS m FROM results').first<{
      m: string;
    }>();
    expect(JSON.parse(row!.m).commitments).toEqual(commitments);
  });
});

/**
 * A trusted-single result on c1-0 (30 steps, a curve point and a commitment every 10) whose spot
 * check, drawn with `from` ∈ [0, 1), starts at a committed checkpoint: its states, made up but
 * consistent (each state's losses give the result's curve), and the volunteer.
 */
async function revealAsked(from: number) {
  const { t, lease, resultId } = await trustedSingleLease();
  await setDrawKey(
    await findDrawKey([
      [`spot:${resultId}`, (u) => u < 0.1],
      [`spot-from:${resultId}`, (u) => Math.floor(u * 3) - 1 === from],
    ]),
  );
  const losses = Array.from({ length: 30 }, (_, i) => 4 - i * 0.03 + (i % 3) * 0.01);
  const states: CommittedState[] = [10, 20, 30].map((step): CommittedState => ({
    step,
    losses: losses.slice(0, step),
    weights: [Float32Array.from([step, 1, 2]), Float32Array.from([0.5, -0.25])],
    optimizer: {
      t: step,
      m: [new Float32Array(3), new Float32Array(2)],
      v: [new Float32Array(3).fill(1e-3), new Float32Array(2)],
    },
    batchRng: [1, 2, 3, step],
  }));
  const curve = [0, 1, 2].map(
    (i) => losses.slice(i * 10, (i + 1) * 10).reduce((a, b) => a + b, 0) / 10,
  );
  const commitments = await Promise.all(states.map((s) => checkpointCommitment(lease.specHash, s)));
  const res = await t.submit(lease, 3.1, { curve, commitments });
  expect(res.status).toBe(201);
  return { t, lease, states, curve, response: (await res.json()) as ResultResponse };
}

describe('spot checks from a revealed checkpoint', () => {
  it('ask the volunteer for the drawn checkpoint, open once it matches its commitment, and serve it to the leased checker only', async () => {
    const { t, lease, states, curve, response } = await revealAsked(0);
    const path = `/api/results/spot-checks/${response.reveal!.spotCheckId}/checkpoint`;
    expect(response.reveal).toEqual({ spotCheckId: expect.any(String), step: 10, path });
    // A checker finds nothing to check until the checkpoint is revealed.
    const early = await peer({ backend: 'cpu', spotChecks: true }, '192.0.2.3');
    expect((await early.lease())!.kind).toBeUndefined();
    // Bytes that do not match the commitment change nothing: another step's, or tampered ones.
    const other = await encodeCheckpoint(lease.specHash, states[1]!);
    expect(await (await put(t, path, other.bytes)).json()).toMatchObject({
      error: 'commitment_mismatch',
    });
    const { bytes } = await encodeCheckpoint(lease.specHash, states[0]!);
    const tampered = bytes.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect(await (await put(t, path, tampered)).json()).toMatchObject({
      error: 'commitment_mismatch',
    });
    expect((await put(t, path, bytes)).status).toBe(201);
    expect((await put(t, path, bytes)).status).toBe(200); // revealed once
    const checker = await peer({ backend: 'cpu', spotChecks: true }, '192.0.2.4');
    const spot = (await checker.lease())!;
    expect(spot).toMatchObject({
      kind: 'spot-check',
      spotCheck: { fromStep: 10, toStep: 20, checkpointPath: path },
    });
    expect((await api(path)).status).toBe(401);
    expect((await api(path, { headers: { [LEASE_TOKEN_HEADER]: 'x'.repeat(43) } })).status).toBe(
      403,
    );
    const got = await api(path, { headers: { [LEASE_TOKEN_HEADER]: spot.leaseToken } });
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
    // The checker's segment is the result's second curve point.
    expect((await submitSpot(checker, spot, [curve[1]! + 2e-4])).status).toBe(201);
    expect(await experimentState('c1-0')).toMatchObject({ status: 'verified', audit: 0 });
  });

  it('fail when the revealed losses do not give the result’s curve, reopening the experiment', async () => {
    const { t, lease, states, response } = await revealAsked(1);
    expect(response.reveal!.step).toBe(20);
    const s = states[1]!;
    const lying = { ...s, losses: s.losses.map((x, i) => (i === 3 ? x + 0.5 : x)) };
    // A result whose commitment was to these losses: the reveal matches the commitment but not the curve.
    await env.DB.prepare('UPDATE spot_checks SET commitment = ?')
      .bind(await checkpointCommitment(lease.specHash, lying))
      .run();
    expect(
      await (
        await put(t, response.reveal!.path, (await encodeCheckpoint(lease.specHash, lying)).bytes)
      ).json(),
    ).toMatchObject({ opened: false });
    expect(await experimentState('c1-0')).toMatchObject({ status: 'open', audit: 1 });
  });

  it('fail when the checkpoint is not revealed in time (the cron), reopening the experiment', async () => {
    const { t, lease, states, response } = await revealAsked(0);
    expect(await expireReveals(env.DB, Date.now())).toBe(0);
    expect(await expireReveals(env.DB, Date.now() + REVEAL_WINDOW_MS + 1)).toBe(1);
    expect(await experimentState('c1-0')).toMatchObject({ status: 'open', audit: 1 });
    expect(
      await (
        await put(
          t,
          response.reveal!.path,
          (await encodeCheckpoint(lease.specHash, states[0]!)).bytes,
        )
      ).json(),
    ).toMatchObject({ opened: false });
  });
});
