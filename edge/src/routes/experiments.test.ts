import { describe, expect, it } from 'vitest';
import type { ExperimentDetail } from '../../../shared/protocol.ts';
import { TAU_BPB, TAU_CURVE } from '../../../shared/verify.ts';
import {
  api,
  expectRefusal,
  getJson,
  honestMetrics,
  newVolunteer,
  seedCampaign,
  tinySpec,
} from '../../test/helpers.ts';

async function detail(id: string): Promise<ExperimentDetail> {
  return (await getJson<{ experiment: ExperimentDetail }>(`/api/experiments/${id}`)).experiment;
}

describe('GET /api/experiments/:id', () => {
  it('shows the spec, every replica with its backend, curve and verdict, and how to reproduce it', async () => {
    await seedCampaign('c1', 1);
    const [a, b, c] = [
      await newVolunteer('alice'),
      await newVolunteer('bob'),
      await newVolunteer('carol'),
    ];
    const open = await detail('c1-0');
    expect(open).toMatchObject({
      status: 'open',
      valBpb: null,
      replicas: [],
      campaignName: 'Campaign c1',
      quorum: 2,
    });
    expect(open.spec).toEqual(tinySpec(1));

    const [la, lb] = [(await a.lease('webgpu'))!, (await b.lease('wasm'))!];
    await a.result(la, honestMetrics(la.spec, 3.0, 'webgpu'));
    await b.result(lb, honestMetrics(lb.spec, 3.5, 'wasm')); // outvoted below
    // Open: who replied and how it stands shows, but no metric of an unsettled result (a replica
    // that could read them could copy them).
    const pending = await detail('c1-0');
    expect(pending.replicas.map((r) => [r.displayName, r.verdict, r.metrics])).toEqual([
      ['alice', 'pending', null],
      ['bob', 'pending', null],
    ]);
    expect(JSON.stringify(pending)).not.toContain('3.5');
    const lc = (await c.lease('cpu'))!;
    await c.result(lc, honestMetrics(lc.spec, 3.0 + TAU_BPB / 4, 'cpu'));

    const e = await detail('c1-0');
    expect(e).toMatchObject({
      id: 'c1-0',
      campaignId: 'c1',
      idx: 0,
      status: 'verified',
      valBpb: 3.0 + TAU_BPB / 8,
      replicasNeeded: 3,
    });
    expect(e.specHash).toMatch(/^[0-9a-f]{64}$/);
    expect(e.tolerance).toEqual({ bpb: TAU_BPB, curve: TAU_CURVE });
    expect(e.reproduce).toBe('npm run reproduce -- c1-0');
    expect(e.replicas.map((r) => [r.displayName, r.metrics?.backend, r.verdict])).toEqual([
      ['alice', 'webgpu', 'valid'],
      ['bob', 'wasm', 'invalid'],
      ['carol', 'cpu', 'valid'],
    ]);
    expect(e.replicas[0]!.metrics?.curve).toEqual(honestMetrics(tinySpec()).curve);
  });

  it('refuses an unknown or malformed id', async () => {
    await expectRefusal(await api('/api/experiments/nope'), 404, 'unknown_experiment');
    expect((await api('/api/experiments/a%20b')).status).toBe(400);
  });
});
