// Trust routes: a volunteer's standing, spot-check leases and their outcomes, and commitments.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { sha256, signCanonical } from '../../../shared/crypto.ts';
import type { Lease, VolunteerTrust } from '../../../shared/protocol.ts';
import { api, seedCampaign } from '../../test/helpers.ts';
import { experimentState, findDrawKey, peer, setDrawKey, setRecord, type Peer } from '../../test/trust.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import { RAC_HALF_LIFE_DAYS } from '../trust/credit.ts';

describe('GET /api/volunteers/:id', () => {
  it('shows reputation, credit with its recent average, results and per-class replication', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [await peer({ backend: 'webgpu' }), await peer({ backend: 'wasm' })];
    const [la, lb] = [(await a.lease())!, (await b.lease())!];
    await a.submit(la, 3.0);
    await b.submit(lb, 3.0 + TAU_BPB / 4);
    const { flops } = (await env.DB.prepare('SELECT flops FROM experiments').first<{ flops: number }>())!;
    const res = await api(`/api/volunteers/${a.id}`);
    expect(res.status).toBe(200);
    const t = (await res.json()) as VolunteerTrust;
    expect(t).toMatchObject({
      volunteerId: a.id,
      reputation: 2,
      openLeaseQuota: 2,
      results: { valid: 1, invalid: 0, pending: 0, trustedSingle: 0 },
      classes: [{ backendClass: 'webgpu', consecutiveValid: 1, valid: 1, invalid: 0, replicationProbability: 1 }],
    });
    expect(t.credit.total).toBe(flops);
    expect(t.rank).toBe(1); // a and b share the top credit
    const newcomer = await peer({ backend: 'cpu' });
    expect(((await (await api(`/api/volunteers/${newcomer.id}`)).json()) as VolunteerTrust).rank).toBeNull();
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

/** A trusted-single result on c1-0 whose acceptance also drew a spot check. */
async function spotChecked(): Promise<void> {
  await seedCampaign('c1', 2);
  const t = await peer({ backend: 'wasm' }, '192.0.2.1');
  await setRecord(t.id, 'wasm', 10);
  await setDrawKey(await findDrawKey([[`replicate:${t.id}:0`, (u) => u > 0.5]]));
  const lease = (await t.lease())!;
  // The spot-check draw happens when the result is accepted, keyed on the result id (from the lease id).
  const resultId = 'r_' + (await sha256(lease.leaseId)).slice(0, 24);
  await setDrawKey(await findDrawKey([[`spot:${resultId}`, (u) => u < 0.1]]));
  await t.submit(lease, 3.1);
  expect(await experimentState('c1-0')).toMatchObject({ verification: 'trusted-single' });
}

async function expectedFirst(): Promise<number> {
  const row = await env.DB.prepare('SELECT expected_json AS e FROM spot_checks').first<{ e: string }>();
  return (JSON.parse(row!.e) as number[])[0]!;
}

async function submitSpot(v: Peer, lease: Lease, curve: number[]): Promise<Response> {
  const result = { type: 'spot-check' as const, leaseId: lease.leaseId, leaseToken: lease.leaseToken, specHash: lease.specHash, curve };
  return v.post('/api/results/spot-checks', { result, signature: await signCanonical(v.keys.privateKey, result) });
}

describe('spot checks', () => {
  it('are leased only to clients that declare them, never to the checked volunteer', async () => {
    await spotChecked();
    const plain = await peer({ backend: 'cpu' }, '192.0.2.2');
    expect((await plain.lease())!.kind).toBeUndefined();
    const checker = await peer({ backend: 'cpu', spotChecks: true }, '192.0.2.3');
    const lease = (await checker.lease())!;
    expect(lease).toMatchObject({ kind: 'spot-check', experimentId: 'c1-0', spotCheck: { toStep: 10, submitPath: '/api/results/spot-checks' } });
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
    expect(await (await submitSpot(checker, lease, [first + 2e-4])).json()).toMatchObject({ duplicate: true });
    expect(await experimentState('c1-0')).toMatchObject({ status: 'verified', audit: 0 });
  });

  it('reopen the experiment for a quorum when the segment does not match', async () => {
    await spotChecked();
    const checker = await peer({ backend: 'webgpu', spotChecks: true }, '192.0.2.5');
    const lease = (await checker.lease())!;
    expect((await submitSpot(checker, lease, [(await expectedFirst()) + 0.05])).status).toBe(201);
    expect(await experimentState('c1-0')).toMatchObject({ status: 'open', audit: 1, replicasNeeded: 2 });
  });

  it('refuses a spot check from another volunteer or with a wrong token', async () => {
    await spotChecked();
    const checker = await peer({ backend: 'cpu', spotChecks: true }, '192.0.2.3');
    const lease = (await checker.lease())!;
    const thief = await peer({ backend: 'cpu' }, '192.0.2.9');
    expect(await (await submitSpot(thief, lease, [3])).json()).toMatchObject({ error: 'foreign_lease' });
    expect(await (await submitSpot(checker, { ...lease, leaseToken: 'x'.repeat(43) }, [3])).json()).toMatchObject({ error: 'foreign_lease' });
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
    const row = await env.DB.prepare('SELECT metrics_json AS m FROM results').first<{ m: string }>();
    expect(JSON.parse(row!.m).commitments).toEqual(commitments);
  });
});
