// bench:trust's synthetic world: experiments whose true val_bpb and loss curve follow a model
// built on `npm run calibrate` (see bench-trust.ts's header), the honest metrics each backend class
// reports for them, and made-up training states behind checkpoint commitments. Nobody trains.
import { backendClass } from '../../shared/backend-class.ts';
import type { CommittedState } from '../../shared/commit.ts';
import { PRESETS } from '../../shared/model/presets.ts';
import type { Backend, Metrics, Precision } from '../../shared/protocol.ts';
import { Rng } from '../../shared/rng.ts';
import { curveLength, tokenBudget, type ExperimentSpec } from '../../shared/spec.ts';

export const preset = PRESETS.demo;
export const SEED_SIGMA_BPB = 0.02;
export const BATCH_SIGMA_NATS = 0.024;
export const VOCAB = 65;
/** Measured gaps (val_bpb, max |Δ curve|) of a run that changed one thing: [min, max] each. */
export const GAPS = {
  seed: { bpb: [0.0049, 0.038], curve: [0.022, 0.11] },
  order: { bpb: [0.0017, 0.021], curve: [0.019, 0.1] },
  init: { bpb: [0.0028, 0.049], curve: [0.0069, 0.087] },
} as const;
export const logUniform = (r: Rng, [lo, hi]: readonly [number, number]) =>
  Math.exp(Math.log(lo) + r.next() * Math.log(hi / lo));

export interface Truth {
  config: number; // f(config): what a perfect surrogate knows
  valBpb: number;
  curve: number[]; // nats, segment means
  surrogateCurve: number[]; // the curve without this seed's own terms
}

export function metricsFrom(
  spec: ExperimentSpec,
  backend: Backend,
  precision: Precision,
  valBpb: number,
  curve: number[],
): Metrics {
  return {
    valBpb,
    valLoss: valBpb * Math.LN2,
    curve,
    steps: spec.train.steps,
    tokens: tokenBudget(spec),
    backend,
    wallMs: 90_000,
    msPerStep: 300,
    ...(precision === 'float16' && { precision }),
  };
}

/** Whether two results agree under tolerances `tau` (a what-if against other tolerances than the edge's). */
export function closeUnder(a: Metrics, b: Metrics, tau: { bpb: number; curve: number }): boolean {
  return (
    Math.abs(a.valBpb - b.valBpb) <= tau.bpb &&
    a.curve.every((x, i) => Math.abs(x - b.curve[i]!) <= tau.curve)
  );
}

/**
 * A made-up training state behind a commitment: per-step losses that give the submitted curve, and
 * a weight that says whether the state came from training (1) or was forged (0) — what a real
 * checker finds out by training from it.
 */
export function stateAt(
  spec: ExperimentSpec,
  m: Metrics,
  step: number,
  trained: boolean,
): CommittedState {
  const every = spec.train.curveEvery;
  return {
    step,
    losses: Array.from({ length: step }, (_, s) => m.curve[Math.floor(s / every)]!),
    weights: [Float32Array.of(trained ? 1 : 0, step)],
    optimizer: { t: step, m: [new Float32Array(2)], v: [new Float32Array(2)] },
    batchRng: [1, 2, 3, step],
  };
}

function curveFor(finalBpb: number, noise: number[], n: number): number[] {
  const l0 = Math.log(VOCAB);
  const lInf = finalBpb * Math.LN2 * 0.98;
  return Array.from(
    { length: n },
    (_, k) => lInf + (l0 - lInf) * Math.exp((-3 * (k + 0.5)) / n) + noise[k]!,
  );
}

/**
 * One seeded world: experiment i's spec and truth, and its honest metrics on each backend class
 * (bit-identical within a class, pairwise within `spreadBpb` across classes; float16 twice that).
 */
export class SyntheticTruth {
  readonly #truths = new Map<number, Truth>();
  readonly o: { seed: number; spreadBpb: number; campaign: string; datasetSha256: string };

  constructor(o: SyntheticTruth['o']) {
    this.o = o;
  }

  specOf(i: number): ExperimentSpec {
    const r = Rng.derive(this.o.seed, `spec:${i}`);
    const lr = Math.exp(Math.log(5e-4) + r.next() * Math.log(10));
    return {
      template: 'gpt-char',
      dataset: { id: this.o.campaign, sha256: this.o.datasetSha256 },
      model: { ...preset.model, nLayer: 1 + (i % 2), vocabSize: VOCAB },
      train: {
        ...preset.train,
        lr: Number(lr.toPrecision(3)),
        minLr: Number((lr / 10).toPrecision(3)),
      },
      seed: 1 + i,
      evalWindows: preset.evalWindows,
    };
  }

  indexOf(experimentId: string): number {
    return Number(experimentId.slice(this.o.campaign.length + 1));
  }

  truth(i: number): Truth {
    let t = this.#truths.get(i);
    if (!t) {
      const spec = this.specOf(i);
      const r = Rng.derive(this.o.seed, `truth:${i}`);
      const config =
        2.55 +
        (0.3 * Math.log(spec.train.lr / 2e-3) ** 2) / Math.log(10) ** 2 -
        0.08 * (spec.model.nLayer - 1);
      const valBpb = config + SEED_SIGMA_BPB * r.normal();
      const n = curveLength(spec.train);
      const noise = Array.from({ length: n }, () => BATCH_SIGMA_NATS * r.normal());
      t = {
        config,
        valBpb,
        curve: curveFor(valBpb, noise, n),
        surrogateCurve: curveFor(
          config,
          noise.map(() => 0),
          n,
        ),
      };
      this.#truths.set(i, t);
    }
    return t;
  }

  /** The honest metrics of experiment i on a backend: fixed per (experiment, backend class). */
  honest(i: number, spec: ExperimentSpec, backend: Backend, precision: Precision): Metrics {
    const t = this.truth(i);
    const klass = backendClass(backend, precision);
    const r = Rng.derive(this.o.seed, `honest:${i}:${klass}`);
    const scale = precision === 'float16' ? 2 : 1;
    const offset = scale * this.o.spreadBpb * (r.next() - 0.5); // pairwise gaps within the spread
    const curve = t.curve.map((c) => c + scale * (this.o.spreadBpb / 2) * (r.next() - 0.5)); // curve spread: measured 3.5e-6 against 7.4e-6
    return metricsFrom(spec, backend, precision, t.valBpb + offset, curve);
  }
}
