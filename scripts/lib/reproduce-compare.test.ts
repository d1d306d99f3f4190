import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../shared/model/presets.ts';
import type { ExperimentDetail, Metrics, ReplicaDetail } from '../../shared/protocol.ts';
import { TAU_BPB, TAU_CURVE } from '../../shared/verify.ts';
import { compareWithVerified } from './reproduce-compare.ts';

const curve = [3.5, 3.0, 2.6];
const metrics = (valBpb: number, backend: Metrics['backend'] = 'wasm', c = curve): Metrics => ({
  valBpb,
  valLoss: valBpb * Math.LN2,
  curve: c,
  steps: 30,
  tokens: 3840,
  backend,
  wallMs: 900,
  msPerStep: 30,
});
const replica = (
  valBpb: number,
  verdict: ReplicaDetail['verdict'],
  backend: Metrics['backend'],
): ReplicaDetail => ({
  resultId: `r_${backend}`,
  volunteerId: 'v_x',
  displayName: null,
  verdict,
  submittedAt: 0,
  browser: 'chromium',
  metrics: metrics(valBpb, backend),
});

function detail(
  status: ExperimentDetail['status'],
  replicas: ReplicaDetail[],
  valBpb: number | null,
): ExperimentDetail {
  const p = PRESETS.tiny;
  return {
    id: 'c1-0',
    campaignId: 'c1',
    campaignName: 'C',
    lineage: [],
    idx: 0,
    status,
    specHash: 'f'.repeat(64),
    valBpb,
    verifiedAt: valBpb ? 1 : null,
    spec: {
      template: 'gpt-char',
      dataset: { id: 'sotu', sha256: 'a'.repeat(64) },
      model: { ...p.model, vocabSize: 40 },
      train: p.train,
      seed: 1,
      evalWindows: 16,
    },
    flops: 1,
    tokens: 3840,
    quorum: 2,
    replicasNeeded: 2,
    replicas,
    tolerance: { bpb: TAU_BPB, curve: TAU_CURVE },
    reproduce: 'npm run reproduce -- c1-0',
  };
}

describe('compareWithVerified', () => {
  // Two agreeing replicas TAU_BPB / 2 apart, their median between them; an outvoted one far off.
  const median = 3.0 + TAU_BPB / 4;
  const verified = detail(
    'verified',
    [
      replica(3.0, 'valid', 'webgpu'),
      replica(3.0 + TAU_BPB / 2, 'valid', 'wasm'),
      replica(3.5, 'invalid', 'cpu'),
    ],
    median,
  );

  it('agrees within the tolerance of the verified median and the agreeing replicas’ mean curve', () => {
    const r = compareWithVerified(verified, metrics(median + TAU_BPB / 8, 'cpu'));
    expect(r).toMatchObject({
      agrees: true,
      verified: { valBpb: median, replicas: 2, curve },
      maxCurveDelta: 0,
    });
    expect(r.deltaBpb).toBeCloseTo(TAU_BPB / 8, 9);
    expect(r.replicas.map((x) => [x.verdict, x.agrees])).toEqual([
      ['valid', true],
      ['valid', true],
      ['invalid', false],
    ]);
  });

  it('disagrees past the tolerance, on val_bpb or on the curve', () => {
    expect(compareWithVerified(verified, metrics(median + 2 * TAU_BPB)).agrees).toBe(false);
    expect(compareWithVerified(verified, metrics(median, 'cpu', [3.5, 3.0, 2.8])).agrees).toBe(
      false,
    );
  });

  it('has nothing to compare with before verification', () => {
    const r = compareWithVerified(
      detail('open', [replica(3.0, 'pending', 'wasm')], null),
      metrics(3.0),
    );
    expect(r).toMatchObject({ agrees: null, verified: null, deltaBpb: null });
    expect(r.replicas[0]!.agrees).toBe(true);
  });
});
