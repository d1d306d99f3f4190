// Fixtures for the researcher views: volunteers that lease the next experiment together and verify
// it (or fail to), so tests can build a campaign's history in a few lines.
import { expect } from 'vitest';
import type { Backend, Lease } from '../../shared/protocol.ts';
import { honestMetrics, newVolunteer, type TestVolunteer } from './helpers.ts';
import { TAU_BPB } from '../../shared/verify.ts';

export { WANDB_SWEEP, WIDTH_SWEEP } from '../../shared/cases/briefs.ts';

/**
 * Two volunteers lease the same next experiment (through a partner's widget when `partnerId` names
 * one) and submit agreeing results; returns its id.
 */
export async function verifyNext(
  a: TestVolunteer,
  b: TestVolunteer,
  valBpb: number,
  backends: [Backend, Backend] = ['webgpu', 'wasm'],
  campaignId?: string,
  partnerId?: string,
): Promise<string> {
  const la = (await a.lease(backends[0], campaignId, partnerId))!;
  const lb = (await b.lease(backends[1], campaignId, partnerId))!;
  expect(lb.experimentId).toBe(la.experimentId);
  expect(
    (await a.result(la, { ...honestMetrics(la.spec, valBpb, backends[0]), wallMs: 2000 })).status,
  ).toBe(201);
  expect(
    (
      await b.result(lb, {
        ...honestMetrics(lb.spec, valBpb + TAU_BPB / 2, backends[1]),
        wallMs: 4000,
      })
    ).status,
  ).toBe(201);
  return la.experimentId;
}

/** Five volunteers who never agree (0.1 apart, far beyond TAU_BPB): the experiment ends disputed. */
export async function disputeNext(campaignId?: string): Promise<string> {
  let experimentId = '';
  for (let i = 0; i < 5; i++) {
    const v = await newVolunteer(`d${i}`);
    const lease: Lease = (await v.lease('wasm', campaignId))!;
    experimentId ||= lease.experimentId;
    expect(lease.experimentId).toBe(experimentId);
    expect((await v.result(lease, honestMetrics(lease.spec, 3 + 0.1 * i))).status).toBe(201);
  }
  return experimentId;
}
