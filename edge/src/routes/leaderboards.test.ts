import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type {
  CampaignStanding,
  DatasetSummary,
  VolunteerStanding,
} from '../../../shared/protocol.ts';
import { trainingFlops } from '../../../shared/spec.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import { disputeNext, verifyNext } from '../../test/campaign-fixtures.ts';
import {
  api,
  DATASET_SHA,
  newVolunteer,
  seedCampaign,
  seedResearcher,
  tinySpec,
} from '../../test/helpers.ts';
import { RAC_HALF_LIFE_DAYS } from '../db/standings.ts';

async function standings() {
  const res = await api('/api/leaderboards');
  expect(res.status).toBe(200);
  return (await res.json()) as { campaigns: CampaignStanding[]; volunteers: VolunteerStanding[] };
}

describe('GET /api/leaderboards', () => {
  it('ranks volunteers by verified credit and campaigns by their latest verification', async () => {
    await seedCampaign('c1', 3);
    await seedCampaign('c2', 2);
    const [a, b, c] = [await newVolunteer('a'), await newVolunteer('b'), await newVolunteer('c')];
    await verifyNext(a, b, 3.0, ['wasm', 'wasm'], 'c1');
    await verifyNext(c, a, 2.8, ['wasm', 'wasm'], 'c1'); // the newcomer trains first: a, vouched for now, replicates it
    await verifyNext(b, c, 3.3, ['wasm', 'wasm'], 'c2');
    const disputed = await disputeNext('c1'); // five volunteers who never agree: nothing decided, no credit

    const { campaigns, volunteers } = await standings();
    const flops = trainingFlops(tinySpec());
    // Two verified each: a tie, broken by volunteer id.
    expect(
      volunteers
        .slice(0, 3)
        .map((v) => [v.displayName, v.verifiedExperiments, v.credit])
        .sort(),
    ).toEqual([
      ['a', 2, 2 * flops],
      ['b', 2, 2 * flops],
      ['c', 2, 2 * flops],
    ]);
    // Credit granted just now: RAC = credit × ln 2 / half-life (per day).
    expect(volunteers[0]!.recentAverageCredit).toBeCloseTo(
      (2 * flops * Math.LN2) / RAC_HALF_LIFE_DAYS,
      -6,
    );
    // The disputed experiment's volunteers earned nothing.
    expect(
      volunteers.filter((v) => v.displayName?.startsWith('d')).every((v) => v.credit === 0),
    ).toBe(true);
    expect(volunteers[0]!.reputation).toBeGreaterThan(0); // the trust ledger's, raised by agreeing results

    const byId = Object.fromEntries(campaigns.map((c) => [c.id, c]));
    expect(byId.c1).toMatchObject({
      experiments: 3,
      verified: 2,
      disputed: 1,
      volunteers: 3,
      credit: 2 * flops,
    });
    expect(byId.c1!.bestValBpb).toBeCloseTo(2.8 + TAU_BPB / 4, 9); // verifyNext's median
    expect(byId.c1!.bestExperimentId).not.toBe(disputed);
    expect(byId.c2).toMatchObject({ experiments: 2, verified: 1, disputed: 0, volunteers: 2 });
    expect(byId.c2!.bestValBpb).toBeCloseTo(3.3 + TAU_BPB / 4, 9);
    expect(campaigns[0]!.id).toBe('c2'); // verified most recently
  });

  it('decays a campaign’s recent average credit with a one-week half-life', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    await verifyNext(a, b, 3.0);
    const inCampaign = async () =>
      (
        (await (await api('/api/campaigns/c1/volunteers')).json()) as {
          volunteers: VolunteerStanding[];
        }
      ).volunteers;
    const fresh = (await inCampaign())[0]!;
    const flops = trainingFlops(tinySpec());
    expect(fresh.recentAverageCredit).toBeCloseTo((flops * Math.LN2) / RAC_HALF_LIFE_DAYS, -5);
    // Across the edge the ledger's own average agrees.
    expect((await standings()).volunteers[0]!.recentAverageCredit).toBeCloseTo(
      fresh.recentAverageCredit,
      -5,
    );
    await env.DB.prepare('UPDATE experiments SET verified_at = verified_at - ?')
      .bind(RAC_HALF_LIFE_DAYS * 86_400_000)
      .run();
    const old = (await inCampaign())[0]!;
    expect(old.recentAverageCredit / fresh.recentAverageCredit).toBeCloseTo(0.5, 2);
    expect(old.credit).toBe(flops); // total credit never decays
  });

  it('shows the ledger’s reputation, and leaves revoked credit out of a campaign’s standings', async () => {
    await seedCampaign('c1', 2);
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    const first = await verifyNext(a, b, 3.0);
    await verifyNext(a, b, 3.1);
    await env.DB.prepare('UPDATE volunteers SET reputation = 42 WHERE id = ?').bind(a.id).run();
    await env.DB.prepare(
      "UPDATE results SET credit_state = 'revoked' WHERE volunteer_id = ? AND experiment_id = ?",
    )
      .bind(b.id, first)
      .run();
    const global = Object.fromEntries(
      (await standings()).volunteers.map((v) => [v.displayName, v]),
    );
    expect(global.a!.reputation).toBe(42);
    const res = await api('/api/campaigns/c1/volunteers');
    const local = Object.fromEntries(
      ((await res.json()) as { volunteers: VolunteerStanding[] }).volunteers.map((v) => [
        v.displayName,
        v,
      ]),
    );
    expect(local.a).toMatchObject({
      reputation: 42,
      credit: 2 * trainingFlops(tinySpec()),
      verifiedExperiments: 2,
    });
    expect(local.b).toMatchObject({ credit: trainingFlops(tinySpec()), verifiedExperiments: 2 });
  });

  it('is empty on a fresh edge', async () => {
    expect(await standings()).toEqual({ campaigns: [], volunteers: [] });
  });
});

describe('GET /api/datasets', () => {
  it('lists the registered datasets', async () => {
    await seedResearcher();
    const res = await api('/api/datasets');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      datasets: [
        {
          id: 'test',
          name: 'Test text',
          vocabSize: 40,
          manifestSha256: DATASET_SHA,
        } satisfies DatasetSummary,
      ],
    });
  });
});
