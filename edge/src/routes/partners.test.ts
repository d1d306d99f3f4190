import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Lease, PartnerStats } from '../../../shared/protocol.ts';
import { tokenBudget } from '../../../shared/spec.ts';
import {
  api,
  newVolunteer,
  readRefusal,
  seedCampaign,
  seedPartner,
  snapshot,
  type TestVolunteer,
} from '../../test/helpers.ts';

async function leaseThrough(v: TestVolunteer, partnerId: string | undefined): Promise<Response> {
  return v.post('/api/leases', {
    partnerId,
    capabilities: { backend: 'wasm', tokensPerSec: 5000 },
  });
}

async function partnerOf(leaseId: string): Promise<string | null> {
  const row = await env.DB.prepare('SELECT partner_id AS partnerId FROM leases WHERE id = ?')
    .bind(leaseId)
    .first<{ partnerId: string | null }>();
  return row!.partnerId;
}

async function stats(id: string): Promise<PartnerStats> {
  const res = await api(`/api/partners/${id}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { partner: PartnerStats }).partner;
}

describe('partner attribution on leases', () => {
  it('records the partner whose widget asked for the lease, and none without one', async () => {
    await seedCampaign('c1', 2);
    await seedPartner('news-site', 'News Site');
    const [a, b] = [await newVolunteer(), await newVolunteer()];
    const through = (await (await leaseThrough(a, 'news-site')).json()) as { lease: Lease };
    const direct = (await (await leaseThrough(b, undefined)).json()) as { lease: Lease };
    expect(await partnerOf(through.lease.leaseId)).toBe('news-site');
    expect(await partnerOf(direct.lease.leaseId)).toBeNull();
  });

  it('refuses an unregistered partner before claiming anything', async () => {
    await seedCampaign('c1', 1);
    const v = await newVolunteer();
    const before = await snapshot();
    const res = await leaseThrough(v, 'no-such-partner');
    expect(res.status).toBe(404);
    expect((await readRefusal(res)).error).toBe('unknown_partner');
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a malformed partner id with the schema', async () => {
    await seedCampaign('c1', 1);
    const res = await leaseThrough(await newVolunteer(), 'Bad_Id');
    expect(res.status).toBe(400);
    expect((await readRefusal(res)).error).toBe('invalid_request');
  });
});

describe('GET /api/partners and /api/partners/:id', () => {
  it('counts verified results, tokens and volunteers through each widget, and ranks partners', async () => {
    await seedCampaign('c1', 2);
    await seedPartner('news-site', 'News Site');
    await seedPartner('blog', 'A Blog');
    await seedPartner('quiet', 'Quiet Partner');
    const [a, b, c] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    // c1-0: two replicas through news-site agree, so both results are verified.
    // c1-1: one replica through blog (still pending), one direct.
    const la = ((await (await leaseThrough(a, 'news-site')).json()) as { lease: Lease }).lease;
    const lb = ((await (await leaseThrough(b, 'news-site')).json()) as { lease: Lease }).lease;
    const lc = ((await (await leaseThrough(c, 'blog')).json()) as { lease: Lease }).lease;
    expect([la.experimentId, lb.experimentId, lc.experimentId]).toEqual(['c1-0', 'c1-0', 'c1-1']);
    for (const [v, l] of [
      [a, la],
      [b, lb],
      [c, lc],
    ] as const)
      expect((await v.result(l)).status).toBe(201);

    const news = await stats('news-site');
    expect(news).toEqual({
      id: 'news-site',
      name: 'News Site',
      createdAt: expect.any(Number),
      experiments: 1,
      verifiedResults: 2,
      tokensTrained: 2 * tokenBudget(la.spec),
      volunteers: 2,
    });
    expect(await stats('blog')).toMatchObject({
      experiments: 1,
      verifiedResults: 0,
      tokensTrained: 0,
      volunteers: 0,
    });
    expect(await stats('quiet')).toMatchObject({
      experiments: 0,
      verifiedResults: 0,
      tokensTrained: 0,
      volunteers: 0,
    });

    const board = (await (await api('/api/partners')).json()) as { partners: PartnerStats[] };
    expect(board.partners.map((p) => p.id)).toEqual(['news-site', 'blog', 'quiet']);
    expect(board.partners[0]).toEqual(news);
  });

  it("does not publish a partner's origins", async () => {
    await seedPartner('news-site', 'News Site', ['https://news.example']);
    expect(JSON.stringify(await stats('news-site'))).not.toContain('news.example');
  });

  it('answers an unknown partner with 404 and a malformed id with 400', async () => {
    const missing = await api('/api/partners/nobody');
    expect(missing.status).toBe(404);
    expect((await readRefusal(missing)).error).toBe('unknown_partner');
    const malformed = await api('/api/partners/Not%20An%20Id');
    expect(malformed.status).toBe(400);
    expect((await readRefusal(malformed)).error).toBe('invalid_request');
  });

  it('serves the leaderboard empty, not missing, before any partner exists', async () => {
    const res = await api('/api/partners');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ partners: [] });
  });
});
