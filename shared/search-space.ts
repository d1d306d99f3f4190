// Campaign briefs: a researcher's question as a template, a dataset, typed ranges of
// hyperparameters and a budget. A seeded sampler turns a brief into experiment specs (same brief
// and seed → same experiments), and the admission policy refuses what a laptop cannot finish.
import { z } from 'zod';
import { displayText } from './display-text.ts';
import { PRESETS } from './model/presets.ts';
import { rungSteps, Strategy } from './asha.ts';
import { Rng } from './rng.ts';
import {
  ExperimentSpec,
  ModelConfig,
  parameterCount,
  trainingFlops,
  type DatasetRef,
} from './spec.ts';

const Num = z.number().finite();
export const Range = z
  .union([
    z.object({ kind: z.literal('log-uniform'), min: Num.positive(), max: Num.positive() }).strict(),
    z.object({ kind: z.literal('uniform'), min: Num, max: Num }).strict(),
    z.object({ kind: z.literal('choice'), values: z.array(Num).min(1).max(32) }).strict(),
    z.object({ kind: z.literal('fixed'), value: Num }).strict(),
  ])
  .refine((r) => !('min' in r) || r.min <= r.max, { message: 'min must not exceed max' });
export type Range = z.infer<typeof Range>;

/** Hyperparameters a brief may range over; integers are rounded after sampling. */
export const SEARCHABLE = {
  lr: 'train',
  minLrRatio: 'train',
  warmupSteps: 'train',
  batchSize: 'train',
  weightDecay: 'train',
  beta2: 'train',
  nLayer: 'model',
  nHead: 'model',
  nEmbd: 'model',
  blockSize: 'model',
  dropout: 'model',
} as const;
const INTEGER = new Set(['warmupSteps', 'batchSize', 'nLayer', 'nHead', 'nEmbd', 'blockSize']);
export type Searchable = keyof typeof SEARCHABLE;

export const SearchSpace = z.partialRecord(
  z.enum(Object.keys(SEARCHABLE) as [Searchable, ...Searchable[]]),
  Range,
);
export type SearchSpace = z.infer<typeof SearchSpace>;

export const CampaignBrief = z
  .object({
    name: displayText(3, 120),
    brief: displayText(10, 4000, { multiline: true }),
    template: z.literal('gpt-char'),
    datasetId: z.string().regex(/^[a-z0-9-]{1,40}$/),
    searchSpace: SearchSpace,
    experiments: z.number().int().min(1).max(1000),
    steps: z.number().int().min(10).max(20000), // per experiment (per segment in a lineage)
    // A lineage (docs/lineage.md): each configuration trained as this many segments of `steps`, each
    // continuing from the previous one's verified checkpoint, the schedule spanning all of them.
    segments: z.number().int().min(1).max(64).default(1),
    replicas: z.number().int().min(2).max(5).default(2), // results from distinct volunteers to verify
    seed: z.number().int().min(1).max(2147483647),
    // How the campaign spends its compute (docs/strategies.md): `random`, every sampled configuration
    // trained fully; `asha`, each trained to `steps`, the best 1/η continued to steps·η, … maxSteps.
    strategy: Strategy.default({ kind: 'random' }),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.strategy.kind === 'pbt') {
      if (b.segments !== 1)
        ctx.addIssue({
          code: 'custom',
          path: ['segments'],
          message: 'PBT makes its own lineages: leave segments at 1.',
        });
      if (b.strategy.quantile >= 0.1 && b.experiments < Math.ceil(2 / b.strategy.quantile))
        ctx.addIssue({
          code: 'custom',
          path: ['experiments'],
          message: `A population needs at least ${Math.ceil(2 / b.strategy.quantile)} members for a quantile of ${b.strategy.quantile}.`,
        });
      return;
    }
    if (b.strategy.kind !== 'asha') return;
    if (b.strategy.eta >= 2 && rungSteps(b.steps, b.strategy).length < 2)
      ctx.addIssue({
        code: 'custom',
        path: ['strategy', 'maxSteps'],
        message: `ASHA needs at least two rungs: maxSteps must be at least steps × η (${b.steps * b.strategy.eta}).`,
      });
    if (b.segments !== 1)
      ctx.addIssue({
        code: 'custom',
        path: ['segments'],
        message: 'ASHA makes its own lineages: leave segments at 1.',
      });
    if (b.experiments < b.strategy.eta)
      ctx.addIssue({
        code: 'custom',
        path: ['experiments'],
        message: `ASHA promotes the best 1/η: start at least η (${b.strategy.eta}) configurations.`,
      });
  });
export type CampaignBrief = z.infer<typeof CampaignBrief>;

/**
 * Admission bounds, so every experiment fits a mid-range laptop in about five minutes. Measured
 * anchor (docs/backends.md, speed anchors): the nanoGPT CPU recipe (0.8 M params, 1.5 M tokens, 7.6 TFLOP) runs at
 * ≈ 2,700 tok/s on 2-core WASM, ≈ 9.5 min; a laptop GPU on WebGPU is several times faster.
 */
export const ADMISSION = {
  maxParams: 5_000_000,
  maxFlops: 1.5e13,
  maxActivationFloats: 64e6, // B·T·C·L·16 + B·nh·T²·L·3: a rough bound on live float32 activations
};

function sample(range: Range, rng: Rng): number {
  switch (range.kind) {
    case 'fixed':
      return range.value;
    case 'choice':
      return range.values[rng.int(range.values.length)]!;
    case 'uniform':
      return range.min + rng.next() * (range.max - range.min);
    case 'log-uniform':
      return Math.exp(
        Math.log(range.min) + rng.next() * (Math.log(range.max) - Math.log(range.min)),
      );
  }
}

export interface DatasetInfo {
  ref: DatasetRef;
  vocabSize: number;
}

/** The brief's experiments, sampled with its seed from the `demo` preset as the base recipe. */
export function sampleExperiments(brief: CampaignBrief, dataset: DatasetInfo): ExperimentSpec[] {
  const base = PRESETS.demo;
  const rng = Rng.derive(brief.seed, 'search-space');
  return Array.from({ length: brief.experiments }, (_, i) => {
    const v: Record<string, number> = {};
    for (const key of Object.keys(SEARCHABLE) as Searchable[]) {
      const range = brief.searchSpace[key];
      if (!range) continue;
      const x = sample(range, rng);
      v[key] = INTEGER.has(key) ? Math.round(x) : Number(x.toPrecision(4));
    }
    const lr = v.lr ?? base.train.lr;
    const spec: ExperimentSpec = {
      template: 'gpt-char',
      dataset: dataset.ref,
      model: {
        ...base.model,
        vocabSize: dataset.vocabSize,
        ...pick(v, ['nLayer', 'nHead', 'nEmbd', 'blockSize', 'dropout']),
      },
      train: {
        ...base.train,
        steps: brief.steps,
        warmupSteps: Math.min(v.warmupSteps ?? Math.round(brief.steps / 10), brief.steps),
        curveEvery: Math.max(1, Math.ceil(brief.steps / 10)),
        lr,
        minLr: Number((lr * (v.minLrRatio ?? 0.1)).toPrecision(4)),
        ...pick(v, ['batchSize', 'weightDecay', 'beta2']),
      },
      seed: brief.seed + i,
      evalWindows: base.evalWindows,
    };
    if (brief.segments > 1) spec.train.scheduleSteps = brief.steps * brief.segments;
    if (brief.strategy.kind !== 'random') spec.train.scheduleSteps = lineageSteps(brief);
    return spec;
  });
}

/** How many experiments a lineage of the brief holds at most: its segments, ASHA's rungs, PBT's generations. */
export function lineageDepth(brief: CampaignBrief): number {
  const s = brief.strategy;
  return s.kind === 'asha'
    ? rungSteps(brief.steps, s).length
    : s.kind === 'pbt'
      ? s.generations
      : brief.segments;
}

/** The steps of a configuration's whole lineage: its segments', ASHA's top rung, PBT's generations'. */
export function lineageSteps(brief: CampaignBrief): number {
  return brief.strategy.kind === 'asha'
    ? rungSteps(brief.steps, brief.strategy).at(-1)!
    : brief.steps * lineageDepth(brief);
}

function pick(v: Record<string, number>, keys: string[]): Record<string, number> {
  return Object.fromEntries(keys.filter((k) => k in v).map((k) => [k, v[k]!]));
}

export interface AdmissionIssue {
  path: string; // the brief field at fault, e.g. "searchSpace.nEmbd"
  message: string;
}

/**
 * Checks every sampled experiment (and the extremes of each range, via the samples) against the
 * template's bounds. Returns the problems, each tied to a field, or [] when the brief is admitted.
 */
export function admissionIssues(brief: CampaignBrief, specs: ExperimentSpec[]): AdmissionIssue[] {
  const issues = new Map<string, string>();
  const blame = () =>
    (['nEmbd', 'nLayer', 'blockSize', 'batchSize'] as const).find((k) => brief.searchSpace[k]) ??
    'steps';
  for (const spec of specs) {
    const model = ModelConfig.safeParse(spec.model);
    if (!model.success) {
      const field = model.error.issues[0]?.path[0] ?? 'nEmbd';
      issues.set(
        `searchSpace.${String(field)}`,
        `A sampled model is invalid: ${model.error.issues[0]?.message}.`,
      );
      continue;
    }
    const full = ExperimentSpec.safeParse(spec);
    if (!full.success) {
      const issue = full.error.issues[0]!;
      issues.set(
        `searchSpace.${String(issue.path.at(-1))}`,
        `A sampled value is out of range: ${issue.message}.`,
      );
      continue;
    }
    const params = parameterCount(spec.model);
    if (params > ADMISSION.maxParams) {
      issues.set(
        `searchSpace.${blame()}`,
        `A sampled model has ${(params / 1e6).toFixed(1)} M parameters; the limit is ${ADMISSION.maxParams / 1e6} M.`,
      );
    }
    // ASHA's longest experiment is its last promotion: from the rung below the top to the top.
    const rungs = brief.strategy.kind === 'asha' ? rungSteps(brief.steps, brief.strategy) : [];
    const longest = rungs.length > 1 ? rungs.at(-1)! - rungs.at(-2)! : spec.train.steps;
    const flops = trainingFlops({ ...spec, train: { ...spec.train, steps: longest } });
    if (flops > ADMISSION.maxFlops) {
      issues.set(
        longest === spec.train.steps ? 'steps' : 'strategy.maxSteps',
        `A sampled experiment needs ${(flops / 1e12).toFixed(1)} TFLOP; the limit is ${ADMISSION.maxFlops / 1e12} TFLOP (about five minutes on a mid-range laptop).`,
      );
    }
    const m = spec.model;
    const b = spec.train.batchSize;
    const activations =
      b * m.blockSize * m.nEmbd * m.nLayer * 16 + b * m.nHead * m.blockSize ** 2 * m.nLayer * 3;
    if (activations > ADMISSION.maxActivationFloats) {
      issues.set(
        `searchSpace.${brief.searchSpace.batchSize ? 'batchSize' : 'blockSize'}`,
        'A sampled experiment needs more memory for activations than a mid-range laptop gives a tab.',
      );
    }
  }
  return [...issues].map(([path, message]) => ({ path, message }));
}
