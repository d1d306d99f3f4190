import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../../shared/crypto.ts';
import { api, newVolunteer, seedCampaign, snapshot } from '../../test/helpers.ts';

describe('POST /api/leases', () => {
  it('leases a spec with a token and a deadline, and both replicas of one experiment first', async () => {
    await seedCampaign('c1', 3);
    const [a, b, c] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    const la = (await a.lease())!;
    expect(la.experimentId).toBe('c1-0');
    expect(la.leaseToken.length).toBeGreaterThanOrEqual(43);
    expect(la.deadline).toBeGreaterThan(Date.now() + 5 * 60_000);
    expect(la.spec.template).toBe('gpt-char');
    expect((await b.lease())!.experimentId).toBe('c1-0'); // the second replica of the same experiment
    expect((await c.lease())!.experimentId).toBe('c1-1'); // both replica slots of c1-0 are taken
  });

  it('never gives one volunteer two replicas of an experiment, and caps its open leases', async () => {
    await seedCampaign('c1', 3);
    const a = await newVolunteer();
    const first = (await a.lease())!;
    const second = (await a.lease())!;
    expect(second.experimentId).not.toBe(first.experimentId);
    expect(await a.lease()).toBeNull(); // two open leases at most
  });

  it('hands out an expired lease again', async () => {
    await seedCampaign('c1', 1);
    const [a, b, c] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    const la = (await a.lease())!;
    await b.lease();
    expect(await c.lease()).toBeNull();
    await env.DB.prepare('UPDATE leases SET deadline = ? WHERE id = ?')
      .bind(Date.now() - 1, la.leaseId)
      .run();
    expect((await c.lease())!.experimentId).toBe(la.experimentId);
  });

  it('assigns no replica slot twice under 40 concurrent claims', async () => {
    await seedCampaign('c1', 5); // 10 replica slots
    const fleet = await Promise.all(Array.from({ length: 40 }, () => newVolunteer()));
    const leases = await Promise.all(fleet.map((v) => v.lease()));
    const granted = leases.filter((l) => l !== null);
    expect(granted).toHaveLength(10);
    const perExperiment = new Map<string, number>();
    for (const l of granted)
      perExperiment.set(l.experimentId, (perExperiment.get(l.experimentId) ?? 0) + 1);
    expect([...perExperiment.values()]).toEqual([2, 2, 2, 2, 2]);
    const { results } = await env.DB.prepare('SELECT count(*) AS n FROM leases').all<{
      n: number;
    }>();
    expect(results[0]!.n).toBe(10);
  });

  it('refuses an unknown campaign', async () => {
    await seedCampaign('c1', 1);
    const a = await newVolunteer();
    const res = await a.post('/api/leases', {
      campaignId: 'nope',
      capabilities: { backend: 'wasm' },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'unknown_campaign' });
  });

  const body = { capabilities: { backend: 'wasm' } };
  const refusals: [
    string,
    (v: Awaited<ReturnType<typeof newVolunteer>>) => Promise<Response>,
    number,
    string,
  ][] = [
    [
      'no signature',
      () =>
        api('/api/leases', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      401,
      'missing_signature',
    ],
    [
      'a signature by another key',
      async (v) => v.post('/api/leases', body, { signWith: await generateSigningKey() }),
      401,
      'bad_signature',
    ],
    [
      'a timestamp ten minutes old',
      (v) => v.post('/api/leases', body, { timestamp: Date.now() - 600_000 }),
      401,
      'stale_timestamp',
    ],
    [
      'an unknown backend',
      (v) => v.post('/api/leases', { capabilities: { backend: 'tpu' } }),
      400,
      'invalid_request',
    ],
    [
      'an extra field',
      (v) => v.post('/api/leases', { ...body, admin: true }),
      400,
      'invalid_request',
    ],
    [
      'a body altered after signing',
      (v) => v.post('/api/leases', body, { alter: (t) => t.replace('wasm', 'cpu') }),
      401,
      'bad_signature',
    ],
    [
      'an unregistered volunteer id',
      () =>
        api('/api/leases', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-tabgrid-volunteer': 'v_' + '0'.repeat(32),
            'x-tabgrid-timestamp': String(Date.now()),
            'x-tabgrid-signature': 'A'.repeat(86),
          },
          body: JSON.stringify(body),
        }),
      401,
      'unknown_volunteer',
    ],
  ];

  it.each(refusals)('refuses %s and changes nothing', async (_name, send, status, code) => {
    await seedCampaign('c1', 1);
    const v = await newVolunteer();
    const before = await snapshot();
    const res = await send(v);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ error: code });
    expect(await snapshot()).toEqual(before);
  });
});

describe('POST /api/leases/:id/heartbeat', () => {
  it('records progress and extends the deadline', async () => {
    await seedCampaign('c1', 1);
    const a = await newVolunteer();
    const lease = (await a.lease())!;
    await env.DB.prepare('UPDATE leases SET deadline = ? WHERE id = ?')
      .bind(Date.now() + 1000, lease.leaseId)
      .run();
    const res = await a.post(`/api/leases/${lease.leaseId}/heartbeat`, {
      leaseToken: lease.leaseToken,
      step: 12,
      loss: 3.25,
    });
    expect(res.status).toBe(200);
    const { deadline } = (await res.json()) as { deadline: number };
    expect(deadline).toBeGreaterThan(Date.now() + 5 * 60_000);
    const row = await env.DB.prepare(
      'SELECT last_step AS step, last_loss AS loss, deadline FROM leases WHERE id = ?',
    )
      .bind(lease.leaseId)
      .first();
    expect(row).toEqual({ step: 12, loss: 3.25, deadline });
  });

  it('moves the deadline only by half a window or more, and never past the lease’s lifetime', async () => {
    await seedCampaign('c1', 1);
    const a = await newVolunteer();
    const lease = (await a.lease())!;
    const beat = () =>
      a.post(`/api/leases/${lease.leaseId}/heartbeat`, {
        leaseToken: lease.leaseToken,
        step: 1,
        loss: 4,
      });
    const deadlineOf = async () =>
      (await env.DB.prepare('SELECT deadline FROM leases WHERE id = ?')
        .bind(lease.leaseId)
        .first<number>('deadline'))!;
    // Just leased: a full window is left, so the beat records progress and leaves the deadline.
    const first = await deadlineOf();
    const fresh = await beat();
    expect(fresh.status).toBe(200);
    expect(await fresh.json()).toEqual({ deadline: first });
    // Leased three hours ago (past the two-hour cap) with a minute left: no extension at all.
    const soon = Date.now() + 60_000;
    await env.DB.prepare('UPDATE leases SET created_at = ?, deadline = ? WHERE id = ?')
      .bind(Date.now() - 3 * 3_600_000, soon, lease.leaseId)
      .run();
    const capped = await beat();
    expect(capped.status).toBe(200);
    expect(await capped.json()).toEqual({ deadline: soon });
    expect(await deadlineOf()).toBe(soon);
  });

  it('changes nothing on a heartbeat for another volunteer’s lease', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [await newVolunteer(), await newVolunteer()];
    const lease = (await a.lease())!;
    await env.DB.prepare('UPDATE leases SET deadline = ? WHERE id = ?')
      .bind(Date.now() + 1000, lease.leaseId)
      .run();
    const before = await snapshot();
    const res = await b.post(`/api/leases/${lease.leaseId}/heartbeat`, {
      leaseToken: lease.leaseToken,
      step: 5,
      loss: 3,
    });
    expect(res.status).toBe(403);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a heartbeat for an expired lease, a foreign lease, or a replayed request', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [await newVolunteer(), await newVolunteer()];
    const lease = (await a.lease())!;
    const beat = { leaseToken: lease.leaseToken, step: 1, loss: 4 };
    const foreign = await b.post(`/api/leases/${lease.leaseId}/heartbeat`, beat);
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ error: 'foreign_lease' });
    const timestamp = Date.now();
    expect(
      (await a.post(`/api/leases/${lease.leaseId}/heartbeat`, beat, { timestamp })).status,
    ).toBe(200);
    const replay = await a.post(`/api/leases/${lease.leaseId}/heartbeat`, beat, { timestamp });
    expect(replay.status).toBe(409);
    expect(await replay.json()).toMatchObject({ error: 'replayed_request' });
    await env.DB.prepare('UPDATE leases SET deadline = 1 WHERE id = ?').bind(lease.leaseId).run();
    const late = await a.post(`/api/leases/${lease.leaseId}/heartbeat`, beat);
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ error: 'lease_expired' });
  });
});

describe('rate limits', () => {
  it('refuses a volunteer past its limit with 429', async () => {
    await seedCampaign('c1', 1);
    const a = await newVolunteer();
    // All at once. The limiter counts 200 per 10 s window aligned to the clock, so a burst that
    // straddles a window boundary on a slow machine could stay under it in both windows with 260
    // requests (seen once in CI under load); 420 exceed 200 in at least one of any two windows.
    const t0 = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 420 }, (_, i) =>
        a.post('/api/leases', { capabilities: { backend: 'wasm' } }, { timestamp: t0 + i }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(100);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses).toContain(429);
    // A refusal says when to come back: the limiter's window (wrangler.toml), and nothing else does.
    const limited = responses.filter((r) => r.status === 429);
    expect(limited.map((r) => r.headers.get('retry-after'))).toEqual(limited.map(() => '10'));
    expect(responses.find((r) => r.status === 200)!.headers.get('retry-after')).toBeNull();
  });
});
