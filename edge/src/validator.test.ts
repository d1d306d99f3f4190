// The quorum, reputation and credit rules, through the real routes and D1: agreement, disagreement
// and majority, invalid marking, consecutive-valid resets, quota cuts, copies, identities that may
// not verify each other, credit granted once and revoked when overturned.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Lease } from '../../shared/protocol.ts';
import { TAU_BPB } from '../../shared/verify.ts';
import { seedCampaign, snapshot } from '../test/helpers.ts';
import {
  chainOk,
  experimentState,
  findDrawKey,
  ledgerEntries,
  peer,
  setDrawKey,
  setRecord,
  standing,
  verdicts,
} from '../test/trust.ts';
import { REPUTATION } from './trust/policy.ts';

/** An offset well inside the tolerance: results this far apart agree. */
const NEAR = TAU_BPB / 4;

async function flops(experimentId: string): Promise<number> {
  return (await env.DB.prepare('SELECT flops FROM experiments WHERE id = ?')
    .bind(experimentId)
    .first<{ flops: number }>())!.flops;
}

describe('quorum', () => {
  it('verifies when two volunteers on different backends agree, crediting each once', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [await peer({ backend: 'webgpu' }), await peer({ backend: 'wasm' })];
    const [la, lb] = [(await a.lease())!, (await b.lease())!];
    expect(lb.experimentId).toBe(la.experimentId);
    expect((await a.submit(la, 3.0)).status).toBe(201);
    expect(await (await b.submit(lb, 3.0 + TAU_BPB / 2)).json()).toMatchObject({
      experimentStatus: 'verified',
    });
    expect(await experimentState('c1-0')).toMatchObject({
      status: 'verified',
      verification: 'quorum',
      valBpb: 3.0 + TAU_BPB / 4,
    });
    expect(await verdicts('c1-0')).toEqual({
      [a.id]: { verdict: 'valid', basis: 'quorum', credit: 'granted' },
      [b.id]: { verdict: 'valid', basis: 'quorum', credit: 'granted' },
    });
    const f = await flops('c1-0');
    expect(await standing(a.id, 'webgpu')).toEqual({
      reputation: REPUTATION.valid,
      quota: 2,
      creditTotal: f,
      cv: 1,
    });
    expect(await standing(b.id, 'wasm')).toEqual({
      reputation: REPUTATION.valid,
      quota: 2,
      creditTotal: f,
      cv: 1,
    });
    const entries = await ledgerEntries();
    expect(entries.map((e) => [e.kind, e.volunteerId])).toEqual([
      ['verdict', a.id],
      ['credit', a.id],
      ['verdict', b.id],
      ['credit', b.id],
    ]);
    expect(entries.filter((e) => e.kind === 'credit').every((e) => e.flops === f)).toBe(true);
    expect(await chainOk()).toBe(true);
  });

  it('sends more replicas on disagreement, reliable volunteers first, and the majority decides', async () => {
    await seedCampaign('c1', 4);
    await seedCampaign('c2', 1);
    const reliable = await peer({ backend: 'cpu' });
    await setRecord(reliable.id, 'cpu', 12);
    expect((await reliable.lease('c2'))!.experimentId).toBe('c2-0'); // training elsewhere for now
    const [a, b] = [await peer({ backend: 'webgpu' }), await peer({ backend: 'wasm' })];
    await setRecord(b.id, 'webgpu', 5, 30); // another class of b's, untouched by its wasm result
    const [la, lb] = [(await a.lease('c1'))!, (await b.lease('c1'))!];
    await a.submit(la, 3.0);
    await b.submit(lb, 3.0 + 3 * TAU_BPB);
    const disputed = await experimentState('c1-0');
    expect(disputed).toMatchObject({ status: 'open', replicasNeeded: 3 });
    expect(disputed!.reissuedAt).not.toBeNull();
    // A newcomer gets fresh work; the reissued replica waits for the reliable volunteer.
    const newcomer = await peer({ backend: 'cpu' });
    expect((await newcomer.lease('c1'))!.experimentId).not.toBe('c1-0');
    const lr = (await reliable.lease('c1'))!;
    expect(lr.experimentId).toBe('c1-0');
    await reliable.submit(lr, 3.0 + 2 * NEAR);
    expect(await experimentState('c1-0')).toMatchObject({
      status: 'verified',
      valBpb: expect.closeTo(3.0 + NEAR, 9),
    });
    expect(await verdicts('c1-0')).toMatchObject({
      [a.id]: { verdict: 'valid', basis: 'quorum' },
      [b.id]: { verdict: 'invalid', basis: 'outvoted', credit: 'none' },
      [reliable.id]: { verdict: 'valid', basis: 'quorum' },
    });
    // The outvoted volunteer: reputation cut, its wasm CV reset (its webgpu one kept), one open lease.
    expect(await standing(b.id, 'wasm')).toEqual({
      reputation: 30 + REPUTATION.invalid,
      quota: 1,
      creditTotal: 0,
      cv: 0,
    });
    expect((await standing(b.id, 'webgpu'))!.cv).toBe(5);
    expect(await b.lease()).not.toBeNull();
    expect(await b.lease()).toBeNull();
    const verdictsInLedger = (await ledgerEntries())
      .filter((e) => e.kind === 'verdict')
      .map((e) => [e.volunteerId, e.verdict, e.basis]);
    expect(verdictsInLedger).toEqual([
      [a.id, 'valid', 'quorum'],
      [b.id, 'invalid', 'outvoted'],
      [reliable.id, 'valid', 'quorum'],
    ]);
    expect(await chainOk()).toBe(true);
  });

  it('resets a trusted volunteer’s consecutive-valid count when it is outvoted', async () => {
    await seedCampaign('c1', 1);
    const [a, b, c] = [
      await peer({ backend: 'webgpu' }),
      await peer({ backend: 'wasm' }),
      await peer({ backend: 'cpu' }),
    ];
    await setRecord(b.id, 'wasm', 7, 14);
    const [la, lb] = [(await a.lease())!, (await b.lease())!];
    await a.submit(la, 3.0);
    await b.submit(lb, 2.5);
    await c.submit((await c.lease())!, 3.0 + NEAR);
    expect(await standing(b.id, 'wasm')).toMatchObject({
      cv: 0,
      reputation: 14 + REPUTATION.invalid,
    });
    expect(await standing(a.id, 'webgpu')).toMatchObject({ cv: 1 });
  });

  it('declares an experiment disputed after five replicas without a majority', async () => {
    await seedCampaign('c1', 1);
    const backends = ['webgpu', 'wasm', 'cpu', 'webgl', 'wasm'] as const;
    for (const [i, backend] of backends.entries()) {
      const v = await peer({ backend, browser: i === 4 ? 'firefox' : 'chromium' });
      const lease = await v.lease();
      expect(lease?.experimentId).toBe('c1-0');
      await v.submit(lease!, 3.0 + i * 3 * TAU_BPB);
    }
    expect(await experimentState('c1-0')).toMatchObject({ status: 'disputed' });
    expect((await ledgerEntries()).map((e) => e.kind)).toEqual(['dispute']);
  });

  it('refuses self-verification: a volunteer never gets a second replica of its own experiment', async () => {
    await seedCampaign('c1', 1);
    const a = await peer({ backend: 'wasm' });
    await a.submit((await a.lease())!, 3.0);
    expect(await a.lease()).toBeNull();
    expect(await experimentState('c1-0')).toMatchObject({ status: 'open', replicasNeeded: 2 });
  });

  it('refuses to pair two keys from one address, and does not count them as two witnesses', async () => {
    await seedCampaign('c1', 3);
    const [a, b] = [
      await peer({ backend: 'wasm' }, '203.0.113.7'),
      await peer({ backend: 'webgpu' }, '203.0.113.7'),
    ];
    expect((await a.lease())!.experimentId).toBe('c1-0');
    expect((await b.lease())!.experimentId).toBe('c1-1'); // c1-0's replica slot is another kind, yet not for b
    // Registered from one address, leasing from another: still one identity.
    const c = await peer({ backend: 'cpu' }, '198.51.100.9');
    await env.DB.prepare(
      'UPDATE volunteers SET ip_hash = (SELECT ip_hash FROM volunteers WHERE id = ?) WHERE id = ?',
    )
      .bind(a.id, c.id)
      .run();
    expect((await c.lease())!.experimentId).toBe('c1-2');
  });

  it('lets an address shared behind the scheduler’s back verify nothing: the validator asks for a third', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [
      await peer({ backend: 'wasm' }, '198.51.100.1'),
      await peer({ backend: 'webgpu' }, '198.51.100.2'),
    ];
    const [la, lb] = [(await a.lease())!, (await b.lease())!];
    // As if b's lease had come from a's address (say both moved to one network meanwhile).
    await env.DB.prepare(
      'UPDATE leases SET ip_hash = (SELECT ip_hash FROM leases WHERE id = ?) WHERE id = ?',
    )
      .bind(la.leaseId, lb.leaseId)
      .run();
    await a.submit(la, 3.0);
    await b.submit(lb, 3.0 + NEAR);
    expect(await experimentState('c1-0')).toMatchObject({ status: 'open', replicasNeeded: 3 });
    // c is reliable: a newcomer would be the second of three witnesses the cold start asks of
    // newcomers with addresses (trust/judge.ts witnessesNeeded).
    const c = await peer({ backend: 'cpu' }, '198.51.100.3');
    await setRecord(c.id, 'cpu', 10);
    await c.submit((await c.lease())!, 3.0 + 2 * NEAR);
    expect(await experimentState('c1-0')).toMatchObject({ status: 'verified' });
  });

  it('takes a result bit-identical to another backend’s for a copy', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [await peer({ backend: 'webgpu' }), await peer({ backend: 'wasm' })];
    const [la, lb] = [(await a.lease())!, (await b.lease())!];
    await a.submit(la, 3.0);
    await b.submit(lb, 3.0, { backend: 'wasm' }); // the same numbers, claimed from another backend
    expect(await verdicts('c1-0')).toMatchObject({
      [a.id]: { verdict: 'pending' },
      [b.id]: { verdict: 'invalid', basis: 'copy' },
    });
    expect(await experimentState('c1-0')).toMatchObject({ status: 'open', replicasNeeded: 3 });
  });

  it('refuses float16 paths until their tolerance is calibrated, changing nothing', async () => {
    await seedCampaign('c1', 2);
    const h = await peer({ backend: 'webgl', precision: 'float16' });
    const before = await snapshot();
    const res = await h.post('/api/leases', {
      capabilities: { backend: 'webgl', precision: 'float16', tokensPerSec: 5000 },
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toBe('uncalibrated_precision');
    expect(await snapshot()).toEqual(before);
    expect((await (await peer({ backend: 'webgl' })).lease())!.experimentId).toBe('c1-0'); // float32 WebGL is fine
  });
});

describe('credit', () => {
  it('is granted once per result, whatever is resubmitted, and never to a result that arrives after the quorum', async () => {
    await seedCampaign('c1', 1);
    await env.DB.prepare('UPDATE experiments SET replicas_needed = 3').run(); // three leases live at once
    const [a, b, c] = [
      await peer({ backend: 'webgpu' }),
      await peer({ backend: 'wasm' }),
      await peer({ backend: 'cpu' }),
    ];
    const [la, lb, lc] = [(await a.lease())!, (await b.lease())!, (await c.lease())!];
    await a.submit(la, 3.0);
    await b.submit(lb, 3.0 + NEAR);
    expect((await a.submit(la, 3.0)).status).toBe(200); // the same result again: the first outcome
    // Late, after the quorum made the metrics readable: it could be a copy of them, so it is refused.
    expect((await c.submit(lc, 3.0 + 2 * NEAR)).status).toBe(409);
    const credits = (await ledgerEntries())
      .filter((e) => e.kind === 'credit')
      .map((e) => e.volunteerId);
    expect(credits.sort()).toEqual([a.id, b.id].sort());
    const f = await flops('c1-0');
    for (const v of [a, b]) expect((await standing(v.id))!.creditTotal).toBe(f);
    expect((await standing(c.id))!.creditTotal).toBe(0);
    expect((await verdicts('c1-0'))[c.id]).toBeUndefined();
  });

  it('keeps the ledger one chain and credits once under concurrent submissions', async () => {
    await seedCampaign('c1', 4);
    const fleet = await Promise.all(
      ['webgpu', 'wasm', 'cpu', 'webgl', 'webgpu', 'wasm', 'cpu', 'webgl'].map((b) =>
        peer({ backend: b as 'wasm' }),
      ),
    );
    const leases: Lease[] = [];
    for (const v of fleet) leases.push((await v.lease())!);
    await Promise.all(fleet.map((v, i) => v.submit(leases[i]!, 3.0 + (i % 2) * NEAR)));
    const { n } = (await env.DB.prepare(
      "SELECT count(*) AS n FROM experiments WHERE status = 'verified'",
    ).first<{ n: number }>())!;
    expect(n).toBe(4);
    const entries = await ledgerEntries();
    expect(entries.filter((e) => e.kind === 'credit')).toHaveLength(8);
    expect(new Set(entries.map((e) => `${e.kind}:${e.resultId}`)).size).toBe(entries.length);
    expect(await chainOk()).toBe(true);
  });

  it('is revoked when a trusted-single result is overturned by the audit its volunteer’s next invalid result triggers', async () => {
    await seedCampaign('c1', 3);
    const t = await peer({ backend: 'wasm' });
    await setRecord(t.id, 'wasm', 10, 40);
    await setDrawKey(
      await findDrawKey([
        [`replicate:${t.id}:0`, (u) => u >= 0.1],
        [`replicate:${t.id}:1`, (u) => u < 0.1],
      ]),
    );
    // c1-0 stands alone: t's fabricated value is accepted and credited.
    await t.submit((await t.lease())!, 3.5);
    expect(await experimentState('c1-0')).toMatchObject({
      status: 'verified',
      verification: 'trusted-single',
    });
    const f = await flops('c1-0');
    expect((await standing(t.id))!.creditTotal).toBe(f);
    // c1-1 is replicated, and t is caught there.
    const lt = (await t.lease())!;
    expect(lt.experimentId).toBe('c1-1');
    const [h1, h2, h3] = [
      await peer({ backend: 'webgpu' }),
      await peer({ backend: 'cpu' }),
      await peer({ backend: 'webgl' }),
    ];
    for (const h of [h1, h2, h3]) await setRecord(h.id, h.caps.backend, 12); // reliable: t's peers may replicate it
    const l1 = (await h1.lease())!;
    expect(l1.experimentId).toBe('c1-1');
    await t.submit(lt, 2.9);
    await h1.submit(l1, 3.3);
    const l2 = (await h2.lease())!;
    expect(l2.experimentId).toBe('c1-1'); // reissued, and h2 is reliable
    await h2.submit(l2, 3.3 + NEAR);
    expect((await verdicts('c1-1'))[t.id]).toMatchObject({ verdict: 'invalid' });
    // Caught: c1-0 is reopened for audit, and reliable volunteers replicate it.
    expect(await experimentState('c1-0')).toMatchObject({ status: 'open', audit: 1 });
    for (const h of [h2, h3]) {
      const l = (await h.lease())!;
      expect(l.experimentId).toBe('c1-0');
      await h.submit(l, 3.3 + (h === h3 ? NEAR : 0));
    }
    expect(await experimentState('c1-0')).toMatchObject({
      status: 'verified',
      verification: 'quorum',
      valBpb: expect.closeTo(3.3 + NEAR / 2, 9),
    });
    expect((await verdicts('c1-0'))[t.id]).toEqual({
      verdict: 'invalid',
      basis: 'overturned',
      credit: 'revoked',
    });
    expect((await standing(t.id))!.creditTotal).toBe(0);
    const revocations = (await ledgerEntries()).filter((e) => e.kind === 'revoke');
    expect(revocations).toEqual([
      expect.objectContaining({ volunteerId: t.id, experimentId: 'c1-0', flops: f }),
    ]);
    expect(await chainOk()).toBe(true);
  });
});
