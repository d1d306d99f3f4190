import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type {
  CampaignProgress,
  CampaignSnapshot,
  ExperimentCurve,
  LeaderboardEntry,
  VolunteerStanding,
} from '../../../shared/protocol.ts';
import type { ImportanceReport } from '../../../shared/importance.ts';
import { tokenBudget } from '../../../shared/spec.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import { disputeNext, verifyNext } from '../../test/campaign-fixtures.ts';
import {
  api,
  honestMetrics,
  insertCampaign,
  newVolunteer,
  seedCampaign,
  tinySpec,
} from '../../test/helpers.ts';

async function get<T>(path: string): Promise<T> {
  const res = await api(path);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as T;
}

const progress = async (id = 'c1') =>
  (await get<{ progress: CampaignProgress }>(`/api/campaigns/${id}/progress`)).progress;

describe('campaign progress', () => {
  it('follows experiments from queued to running, awaiting a replica, verified and disputed', async () => {
    await seedCampaign('c1', 4);
    const tokens = tokenBudget(tinySpec());
    expect(await progress()).toMatchObject({
      experiments: 4,
      queued: 4,
      running: 0,
      awaitingReplica: 0,
      verified: 0,
      disputed: 0,
      remainingTokens: 4 * 2 * tokens,
      fleet: { volunteers: 0, tokensPerSec: 0 },
      etaSeconds: null,
    });

    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    const la = (await a.lease('wasm'))!;
    expect(await progress()).toMatchObject({ queued: 3, running: 1, fleet: { volunteers: 1 } });

    await a.result(la, { ...honestMetrics(la.spec), wallMs: 1000 }); // a's measured rate: tokens per second
    expect(await progress()).toMatchObject({
      queued: 3,
      running: 0,
      awaitingReplica: 1,
      remainingTokens: 7 * tokens,
    });

    const lb = (await b.lease('webgpu'))!;
    expect(lb.experimentId).toBe(la.experimentId);
    await a.lease('wasm'); // a takes the next experiment: two volunteers in the fleet now
    const mid = await progress();
    expect(mid).toMatchObject({
      queued: 2,
      running: 1,
      awaitingReplica: 1,
      fleet: { volunteers: 2 },
    });
    // b has no result yet and sent no heartbeat: only a's rate (tokens / 1 s) is known.
    expect(mid.fleet.tokensPerSec).toBeCloseTo(tokens, 6);
    expect(mid.etaSeconds).toBe(Math.ceil(mid.remainingTokens / tokens));

    await b.result(lb, honestMetrics(lb.spec, 3.1 + TAU_BPB / 4, 'webgpu')); // agrees with a's 3.1
    expect(await progress()).toMatchObject({ verified: 1, awaitingReplica: 0 });
  });

  it('counts a disputed experiment and reaches zero remaining work', async () => {
    await seedCampaign('c1', 1);
    await disputeNext();
    expect(await progress()).toMatchObject({
      experiments: 1,
      disputed: 1,
      queued: 0,
      remainingTokens: 0,
      etaSeconds: 0,
    });
  });

  it('estimates a volunteer’s rate from its heartbeats while it trains', async () => {
    await seedCampaign('c1', 1);
    const a = await newVolunteer('a');
    const lease = (await a.lease('wasm'))!;
    // Pretend the lease was claimed 10 s ago and 15 of 30 steps are done.
    await env.DB.prepare('UPDATE leases SET created_at = created_at - 10000').run();
    expect(
      (
        await a.post(`/api/leases/${lease.leaseId}/heartbeat`, {
          leaseToken: lease.leaseToken,
          step: 15,
          loss: 3,
        })
      ).status,
    ).toBe(200);
    const p = await progress();
    const perStep = tokenBudget(lease.spec) / lease.spec.train.steps;
    expect(p.fleet.tokensPerSec).toBeGreaterThan((15 * perStep) / 11);
    expect(p.fleet.tokensPerSec).toBeLessThan((15 * perStep) / 9);
  });
});

describe('campaign snapshot, leaderboard, curves, importance', () => {
  it('ranks verified experiments with their agreement and serves the leaders’ mean curves', async () => {
    await seedCampaign('c1', 3);
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    for (const bpb of [3.2, 2.9, 3.0]) await verifyNext(a, b, bpb);

    const snap = await get<CampaignSnapshot>('/api/campaigns/c1/snapshot');
    expect(snap.campaign.id).toBe('c1');
    expect(snap.progress).toMatchObject({ verified: 3, queued: 0 });
    expect(snap.rows.map((r) => r.experimentId)).toEqual(['c1-1', 'c1-2', 'c1-0']);
    const best: LeaderboardEntry = snap.rows[0]!;
    expect(best).toMatchObject({ idx: 1, replicas: 2, results: 2, wallMs: 3000, verified: true });
    expect(best.spread).toBeCloseTo(TAU_BPB / 2, 9); // verifyNext's replicas are TAU_BPB / 2 apart
    expect(best.backends.sort()).toEqual(['wasm', 'webgpu']);

    expect(snap.leaders.map((l) => l.experimentId)).toEqual(['c1-1', 'c1-2', 'c1-0']);
    const curve: ExperimentCurve = snap.leaders[0]!;
    expect(curve.curveEvery).toBe(10);
    expect(curve.curve).toEqual(honestMetrics(tinySpec()).curve); // both replicas sent the same curve

    const top1 = await get<{ curves: ExperimentCurve[] }>('/api/campaigns/c1/curves?top=1');
    expect(top1.curves.map((c) => c.experimentId)).toEqual(['c1-1']);
    expect((await api('/api/campaigns/c1/curves?top=0')).status).toBe(400);
    expect((await api('/api/campaigns/c1/curves?top=x')).status).toBe(400);
  });

  it('decomposes val_bpb over the hyperparameters that vary, naming the method', async () => {
    const lrs = [1e-3, 1e-3, 3e-3, 3e-3, 1e-2, 1e-2];
    await insertCampaign(env.DB, {
      id: 'c1',
      name: 'LR sweep',
      brief: 'Learning rates.',
      template: 'gpt-char',
      datasetId: 'test',
      createdAt: Date.now(),
      specs: lrs.map((lr, i) => ({
        ...tinySpec(i + 1),
        train: { ...tinySpec().train, lr, minLr: lr / 10 },
      })),
    });
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    // val_bpb follows the learning rate exactly: lr explains (nearly) all of it.
    for (const lr of lrs) await verifyNext(a, b, 2 + 100 * lr);
    const { importance } = await get<{ importance: ImportanceReport }>(
      '/api/campaigns/c1/importance',
    );
    expect(importance.method).toMatch(/variance decomposition/);
    expect(importance.n).toBe(6);
    expect(importance.parameters.map((p) => p.parameter)).toEqual(['lr']);
    expect(importance.parameters[0]!.share).toBeGreaterThan(0.95);
  });

  it('ranks the campaign’s volunteers by credit', async () => {
    await seedCampaign('c1', 2);
    await seedCampaign('c2', 1);
    const [a, b, c] = [await newVolunteer('a'), await newVolunteer('b'), await newVolunteer('c')];
    await verifyNext(a, b, 3, ['wasm', 'wasm'], 'c1');
    await verifyNext(a, c, 3, ['wasm', 'wasm'], 'c1');
    await verifyNext(b, c, 3, ['wasm', 'wasm'], 'c2');
    const { volunteers } = await get<{ volunteers: VolunteerStanding[] }>(
      '/api/campaigns/c1/volunteers',
    );
    expect(volunteers[0]).toMatchObject({ displayName: 'a', verifiedExperiments: 2 });
    // b and c tie (one each here; c's other one was in c2), in volunteer-id order.
    expect(
      volunteers
        .slice(1)
        .map((v) => [v.displayName, v.verifiedExperiments])
        .sort(),
    ).toEqual([
      ['b', 1],
      ['c', 1],
    ]);
  });

  it('refuses unknown and malformed campaigns on every view', async () => {
    for (const view of ['snapshot', 'progress', 'curves', 'importance', 'volunteers']) {
      expect((await api(`/api/campaigns/nope/${view}`)).status).toBe(404);
      expect((await api(`/api/campaigns/%3Cx%3E/${view}`)).status).toBe(400);
    }
  });
});
