import { describe, expect, it } from 'vitest';
import { PRESETS } from './model/presets.ts';
import { Rng } from './rng.ts';
import type { ExperimentSpec } from './spec.ts';
import { bestSoFar, hyperparameters, parameterImportance } from './importance.ts';

function spec(lr: number, nLayer: number, weightDecay: number): ExperimentSpec {
  const p = PRESETS.demo;
  return {
    template: 'gpt-char',
    dataset: { id: 'test', sha256: 'a'.repeat(64) },
    model: { ...p.model, vocabSize: 40, nLayer },
    train: { ...p.train, lr, minLr: lr / 10, weightDecay },
    seed: 1,
    evalWindows: p.evalWindows,
  };
}

describe('parameterImportance', () => {
  // val_bpb = 2 + (log10 lr + 2.5)² (a strong bowl) + 0.05·nLayer (weak) + noise; weight decay
  // varies but does nothing.
  const rng = Rng.derive(3, 'importance-test');
  const points = Array.from({ length: 200 }, () => {
    const lr = 10 ** (-4 + 2 * rng.next());
    const nLayer = 1 + rng.int(3);
    const weightDecay = rng.next() * 0.2;
    const valBpb = 2 + (Math.log10(lr) + 2.5) ** 2 + 0.05 * nLayer + 0.01 * rng.next();
    return { spec: spec(lr, nLayer, weightDecay), valBpb };
  });

  it('ranks the parameter that drives val_bpb first and finds nothing in a dummy one', () => {
    const report = parameterImportance(points);
    expect(report.n).toBe(200);
    expect(report.method).toMatch(/variance decomposition/);
    const by = Object.fromEntries(report.parameters.map((p) => [p.parameter, p]));
    expect(report.parameters[0]!.parameter).toBe('lr');
    expect(by.lr!.share).toBeGreaterThan(0.7);
    expect(by.lr!.levels).toBe(8);
    expect(by.nLayer!.levels).toBe(3);
    expect(by.weightDecay!.share).toBeLessThan(0.03);
    // Parameters that never vary (nEmbd, blockSize, minLrRatio…) are not reported.
    expect(by.nEmbd).toBeUndefined();
    expect(by.minLrRatio).toBeUndefined();
  });

  it('is all zeros when val_bpb does not vary, and empty for one experiment', () => {
    const flat = parameterImportance(points.map((p) => ({ ...p, valBpb: 3 })));
    expect(flat.parameters.every((p) => p.share === 0 && p.eta2 === 0)).toBe(true);
    expect(parameterImportance(points.slice(0, 1)).parameters).toEqual([]);
  });

  it('reads minLr as a ratio of lr', () => {
    expect(hyperparameters(spec(2e-3, 2, 0.1)).minLrRatio).toBe(0.1);
  });
});

describe('bestSoFar', () => {
  it('keeps only the improvements, in time order', () => {
    const pts = [
      { verifiedAt: 30, valBpb: 2.5 },
      { verifiedAt: 10, valBpb: 3 },
      { verifiedAt: 20, valBpb: 3.1 },
      { verifiedAt: 40, valBpb: 2.6 },
    ];
    expect(bestSoFar(pts)).toEqual([
      { t: 10, best: 3 },
      { t: 30, best: 2.5 },
    ]);
  });
});
