import { describe, expect, it } from 'vitest';
import type { Campaign, LeaderboardRow } from '../../../shared/protocol.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import { api, honestMetrics, newVolunteer, seedCampaign } from '../../test/helpers.ts';

describe('campaigns', () => {
  it('lists campaigns with their experiment counts', async () => {
    await seedCampaign('c1', 3);
    await seedCampaign('c1', 3); // seeding is idempotent
    const res = await api('/api/campaigns');
    expect(res.status).toBe(200);
    const { campaigns } = (await res.json()) as { campaigns: Campaign[] };
    expect(campaigns).toHaveLength(1);
    expect(campaigns[0]).toMatchObject({
      id: 'c1',
      name: 'Campaign c1',
      experiments: 3,
      verified: 0,
    });
  });

  it('refuses an unknown or malformed campaign id', async () => {
    const unknown = await api('/api/campaigns/nope/leaderboard');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_campaign' });
    const bad = await api('/api/campaigns/%3Cscript%3E/leaderboard');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('ranks verified experiments by val_bpb on the leaderboard', async () => {
    await seedCampaign('c1', 2);
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    for (const [bpbA, bpbB] of [
      [3.2, 3.2 + TAU_BPB / 4],
      [2.9, 2.9 + TAU_BPB / 8],
    ] as const) {
      const la = (await a.lease('webgpu'))!;
      const lb = (await b.lease('wasm'))!;
      expect(la.experimentId).toBe(lb.experimentId);
      expect((await a.result(la, honestMetrics(la.spec, bpbA, 'webgpu'))).status).toBe(201);
      expect((await b.result(lb, honestMetrics(lb.spec, bpbB, 'wasm'))).status).toBe(201);
    }
    const res = await api('/api/campaigns/c1/leaderboard');
    const { rows } = (await res.json()) as { rows: LeaderboardRow[] };
    expect(rows.map((r) => r.experimentId)).toEqual(['c1-1', 'c1-0']);
    expect(rows[0]).toMatchObject({ verified: true, replicas: 2, valBpb: 2.9 + TAU_BPB / 16 });
    expect(rows[0]!.backends.sort()).toEqual(['wasm', 'webgpu']);
    expect(rows[0]!.volunteers.sort()).toEqual([a.id, b.id].sort());
    expect(rows[0]!.config.model.nLayer).toBe(1);
  });
});
