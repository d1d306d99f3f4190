// The global views across two real D1 shards (vitest.config.ts binds DB and DB_1): work verified in a
// shard-0 and a shard-1 campaign by the same volunteers shows in each view as one database holding
// every row would show it — campaigns listed together, credit and counts summed per volunteer,
// partner volunteers counted once, and the corpus walked page by page across both shards.
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import type {
  Campaign,
  CampaignStanding,
  CorpusRecord,
  PartnerStats,
  VolunteerStanding,
  VolunteerTrust,
} from '../../shared/protocol.ts';
import { tokenBudget, trainingFlops } from '../../shared/spec.ts';
import { verifyNext } from '../test/campaign-fixtures.ts';
import {
  api,
  getJson,
  honestMetrics,
  seedCampaign,
  seedPartner,
  tinySpec,
  type TestVolunteer,
  newVolunteer,
} from '../test/helpers.ts';
import { STANDINGS_LIMIT } from './db/standings.ts';
import app from './index.ts';

const ZERO = 'c_zero'; // shard 0
const ONE = 'c1_one'; // shard 1, created after ZERO
const OLD = 'c1_old'; // shard 1, created before ZERO
const FLOPS = trainingFlops(tinySpec());
const T0 = Date.now();

async function seedBothShards(): Promise<void> {
  await seedCampaign(ZERO, 3);
  await seedCampaign(ONE, 3, { db: env.DB_1, createdAt: T0 + 60_000 });
  await seedCampaign(OLD, 3, { db: env.DB_1, createdAt: T0 - 60_000 });
}

/**
 * a and b verify one experiment in shard 0 (through the partner's widget); a and c two in shard 1
 * (one through the widget); a leaves one result pending in each shard. Credit: a 3, c 2, b 1 (FLOPS).
 */
async function work(): Promise<{ a: TestVolunteer; b: TestVolunteer; c: TestVolunteer }> {
  const [a, b, c] = [await newVolunteer('a'), await newVolunteer('b'), await newVolunteer('c')];
  await verifyNext(a, b, 3.0, ['wasm', 'wasm'], ZERO, 'news');
  await verifyNext(a, c, 3.1, ['wasm', 'wasm'], ONE, 'news');
  await verifyNext(c, a, 2.9, ['wasm', 'wasm'], ONE);
  for (const campaign of [ZERO, ONE]) {
    const alone = (await a.lease('wasm', campaign))!;
    expect((await a.result(alone, honestMetrics(alone.spec, 3.2))).status).toBe(201);
  }
  return { a, b, c };
}

beforeEach(async () => {
  await seedBothShards();
  await seedPartner('news', 'News');
});

describe('global views across shards', () => {
  it('lists every shard’s campaigns, newest first', async () => {
    const { campaigns } = await getJson<{ campaigns: Campaign[] }>('/api/campaigns');
    expect(campaigns.map((c) => c.id)).toEqual([ONE, ZERO, OLD]);
    expect(campaigns[0]).toMatchObject({ experiments: 3, verified: 0 });
  });

  it('sums each volunteer’s credit and counts over the shards, and ranks campaigns together', async () => {
    const { a, b, c } = await work();
    // a's pending results counted as outvoted, one per shard; and a never-verified shard-0 campaign
    // older than OLD, which must follow it.
    for (const db of [env.DB, env.DB_1]) {
      await db.prepare("UPDATE results SET verdict = 'invalid' WHERE verdict = 'pending'").run();
    }
    await seedCampaign('c_quiet', 1, { createdAt: T0 - 120_000 });
    const board = await getJson<{
      campaigns: CampaignStanding[];
      volunteers: VolunteerStanding[];
    }>('/api/leaderboards');
    const row = (v: VolunteerStanding) => [
      v.volunteerId,
      v.credit,
      v.verifiedExperiments,
      v.rejectedResults,
    ];
    expect(board.volunteers.map(row)).toEqual([
      [a.id, 3 * FLOPS, 3, 2],
      [c.id, 2 * FLOPS, 2, 0],
      [b.id, FLOPS, 1, 0],
    ]);
    // Granted just now: the recent average of the summed decayed credit is 3 FLOPS · ln 2 / 7 days.
    expect(board.volunteers[0]!.recentAverageCredit / ((3 * FLOPS * Math.LN2) / 7)).toBeCloseTo(
      1,
      6,
    );
    // Reputation: the lowest of the shards that judged each (a: one agreement in shard 0, two in 1).
    expect(board.volunteers.map((v) => v.reputation)).toEqual([2, 4, 2]);
    // Campaigns: latest verification first (ONE's came last), never verified after, newest first.
    expect(board.campaigns.map((s) => [s.id, s.verified, s.volunteers])).toEqual([
      [ONE, 2, 2],
      [ZERO, 1, 2],
      [OLD, 0, 0],
      ['c_quiet', 0, 0],
    ]);
  });

  it('shows a volunteer’s standing summed over the shards, ranked by the summed credit', async () => {
    const { a, b, c } = await work();
    // Shard 1 outvotes a's pending result there and cuts a's and b's open-lease quota to 1.
    await env.DB_1.prepare(
      "UPDATE results SET verdict = 'invalid' WHERE verdict = 'pending'",
    ).run();
    await env.DB_1.prepare('UPDATE volunteers SET lease_quota = 1 WHERE id IN (?, ?)')
      .bind(a.id, b.id)
      .run();
    const trust = (id: string) => getJson<VolunteerTrust>(`/api/volunteers/${id}`);
    const ta = await trust(a.id);
    expect(ta.credit.total).toBe(3 * FLOPS);
    expect(ta.results).toEqual({ valid: 3, invalid: 1, pending: 1, trustedSingle: 0 });
    expect(ta.reputation).toBe(2); // shard 0's 2, not shard 1's 4
    expect(ta.openLeaseQuota).toBe(1); // shard 1's cut
    expect((await trust(b.id)).openLeaseQuota).toBeGreaterThan(1); // shard 1 never judged b
    // Per class: counts add, the streak is the shorter one (read from both shards' rows here).
    const classes = async (db: D1Database) =>
      (
        await db
          .prepare(
            'SELECT backend_class AS k, consecutive_valid AS cv, valid FROM volunteer_classes WHERE volunteer_id = ?',
          )
          .bind(a.id)
          .all<{ k: string; cv: number; valid: number }>()
      ).results;
    const [zero, one] = [await classes(env.DB), await classes(env.DB_1)];
    expect(zero.length).toBe(1);
    expect(one.map((r) => r.k)).toEqual([zero[0]!.k]);
    expect(ta.classes).toMatchObject([
      {
        backendClass: zero[0]!.k,
        valid: zero[0]!.valid + one[0]!.valid,
        consecutiveValid: Math.min(zero[0]!.cv, one[0]!.cv),
      },
    ]);
    expect(ta.classes[0]!.valid).toBe(3);
    // In shard 0 alone b ties a (rank 1), and in shard 1 alone c ties a: merged, a 3 > c 2 > b 1.
    expect([ta.rank, (await trust(c.id)).rank, (await trust(b.id)).rank]).toEqual([1, 2, 3]);
    expect((await trust(c.id)).reputation).toBe(4); // judged in shard 1 only: shard 0's 0 is not its
  });

  it('counts a partner’s work in every shard, and each volunteer once', async () => {
    await work();
    const news = await getJson<{ partner: PartnerStats }>('/api/partners/news');
    expect(news.partner).toEqual({
      id: 'news',
      name: 'News',
      createdAt: expect.any(Number),
      experiments: 2,
      verifiedResults: 4,
      tokensTrained: 4 * tokenBudget(tinySpec()),
      volunteers: 3, // a worked through the widget in both shards
    });
    expect((await getJson<{ partners: PartnerStats[] }>('/api/partners')).partners).toEqual([
      news.partner,
    ]);
  });

  it('walks the corpus across both shards in verification order, page by page', async () => {
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    for (const campaign of [ZERO, ONE, ZERO, OLD, ONE]) {
      await verifyNext(a, b, 3.0, ['wasm', 'wasm'], campaign);
    }
    const verified = async (db: D1Database) =>
      (
        await db
          .prepare(
            "SELECT id, verified_at AS at FROM experiments WHERE status = 'verified' ORDER BY verified_at, id",
          )
          .all<{ id: string; at: number }>()
      ).results;
    const expected = [...(await verified(env.DB)), ...(await verified(env.DB_1))]
      .sort((x, y) => x.at - y.at || (x.id < y.id ? -1 : 1))
      .map((r) => r.id);
    expect(expected.map((id) => id.split('-')[0])).toEqual([ZERO, ONE, ZERO, OLD, ONE]);

    for (const limit of [1, 2]) {
      const seen: CorpusRecord[] = [];
      let url: string | null = `/api/corpus?limit=${limit}`;
      while (url) {
        const res = await api(url);
        expect(res.status).toBe(200);
        seen.push(
          ...(await res.text())
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as CorpusRecord),
        );
        url = /<([^>]+)>; rel="next"/.exec(res.headers.get('Link') ?? '')?.[1] ?? null;
      }
      expect(seen.map((r) => r.experimentId)).toEqual(expected);
      expect(seen.every((r) => r.replicas.length === 2)).toBe(true);
    }
    // One campaign of shard 1: read in its own shard.
    const res = await api(`/api/corpus?campaign=${ONE}`);
    expect(res.status).toBe(200);
    const ids = (await res.text())
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as CorpusRecord).experimentId);
    expect(ids).toEqual(expected.filter((id) => id.startsWith(`${ONE}-`)));
  });
});

describe('a shard with more volunteers than a standings page', () => {
  // 1,001 volunteers, with `credit` FLOPS each in `db`.
  async function crowd(db: D1Database, credit: number): Promise<void> {
    await db
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${STANDINGS_LIMIT + 1})
         INSERT INTO volunteers (id, public_key, display_name, created_at, credit_total)
         SELECT printf('v_%032x', i), 'crowd-key-' || i, 'crowd', 0, ? FROM n`,
      )
      .bind(credit)
      .run();
  }

  it('still sums the work of a volunteer its page leaves out', async () => {
    const { a } = await work();
    // With 2.5 FLOPS each in shard 1 only, a (2 there) falls off shard 1's page, yet with shard 0's
    // 1 it leads the edge.
    await crowd(env.DB, 0);
    await crowd(env.DB_1, 2.5 * FLOPS);
    const { volunteers } = await getJson<{ volunteers: VolunteerStanding[] }>('/api/leaderboards');
    expect(volunteers).toHaveLength(STANDINGS_LIMIT);
    expect(volunteers[0]).toMatchObject({
      volunteerId: a.id,
      credit: 3 * FLOPS,
      verifiedExperiments: 3,
    });
    expect(volunteers[1]).toMatchObject({
      volunteerId: `v_${'1'.padStart(32, '0')}`,
      credit: 2.5 * FLOPS,
    });
    // The rank would need the summed credit of 1,001 near volunteers: it is left out, not guessed.
    expect((await getJson<VolunteerTrust>(`/api/volunteers/${a.id}`)).rank).toBeNull();
  });

  it('counts the rank as before, however far down, where shard 0 is the only shard', async () => {
    const { b } = await work();
    await crowd(env.DB, 2 * FLOPS); // all ahead of b's 1 in shard 0
    const alone = { ...env, DB_1: undefined } as unknown as Env;
    const res = await app.request(`http://localhost/api/volunteers/${b.id}`, {}, alone);
    expect(((await res.json()) as VolunteerTrust).rank).toBe(STANDINGS_LIMIT + 2); // 1,001 ahead; a ties
    const board = await app.request('http://localhost/api/leaderboards', {}, alone);
    const { volunteers } = (await board.json()) as { volunteers: VolunteerStanding[] };
    expect(volunteers.find((v) => v.volunteerId === b.id)).toBeUndefined(); // past the page
    expect(volunteers.every((v) => v.credit <= 2 * FLOPS)).toBe(true); // shard 1's credit unseen
  });
});
