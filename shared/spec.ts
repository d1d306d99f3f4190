// An experiment spec: everything that determines a training run. Two browsers given the same spec
// train on the same batches in the same order, so their metrics can be compared.
import { z } from 'zod';
import { hashCanonical } from './crypto.ts';

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

export const ModelConfig = z
  .object({
    nLayer: z.number().int().min(1).max(12),
    nHead: z.number().int().min(1).max(16),
    nEmbd: z.number().int().min(8).max(768),
    blockSize: z.number().int().min(8).max(512), // context length T
    vocabSize: z.number().int().min(2).max(65536),
    bias: z.boolean(),
    dropout: z.number().min(0).max(0.5),
  })
  .strict()
  .refine((m) => m.nEmbd % m.nHead === 0, { message: 'nEmbd must be divisible by nHead' });
export type ModelConfig = z.infer<typeof ModelConfig>;

export const TrainConfig = z
  .object({
    steps: z.number().int().min(1).max(20000),
    batchSize: z.number().int().min(1).max(128),
    lr: z.number().positive().max(1),
    minLr: z.number().nonnegative().max(1),
    warmupSteps: z.number().int().min(0).max(20000),
    beta1: z.number().min(0).lt(1),
    beta2: z.number().min(0).lt(1),
    eps: z.number().positive().max(1e-3),
    weightDecay: z.number().min(0).max(1),
    gradClip: z.number().min(0).max(100), // 0 = no clipping
    curveEvery: z.number().int().min(1).max(20000), // loss-curve checkpoint spacing, in steps
    // The learning-rate schedule's horizon, in steps from the lineage's start: a segment of a longer
    // run decays over the whole run. Absent: the experiment's own last step (docs/lineage.md).
    scheduleSteps: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();
export type TrainConfig = z.infer<typeof TrainConfig>;

export const DatasetRef = z
  .object({ id: z.string().regex(/^[a-z0-9-]{1,40}$/), sha256: Sha256Hex })
  .strict();
export type DatasetRef = z.infer<typeof DatasetRef>;

/**
 * The verified checkpoint a child experiment continues from: its parent experiment, the step the
 * checkpoint holds, and the checkpoint's hash (its commitment, shared/commit.ts: SHA-256 of a header
 * that holds the SHA-256 of every tensor). The child's spec hash covers it, so a lineage is
 * content-addressed end to end.
 */
export const ParentRef = z
  .object({
    experimentId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    step: z.number().int().min(1).max(1_000_000),
    checkpointSha256: Sha256Hex,
  })
  .strict();
export type ParentRef = z.infer<typeof ParentRef>;

export const ExperimentSpec = z
  .object({
    template: z.literal('gpt-char'),
    dataset: DatasetRef,
    model: ModelConfig,
    train: TrainConfig,
    seed: z.number().int().min(1).max(2147483647),
    evalWindows: z.number().int().min(1).max(4096), // how many of the manifest's pinned windows
    parent: ParentRef.optional(), // absent: trained from the seed
  })
  .strict()
  .refine((s) => (s.train.scheduleSteps ?? Infinity) >= s.train.warmupSteps, {
    message: 'scheduleSteps must not be shorter than the warmup',
    path: ['train', 'scheduleSteps'],
  });
export type ExperimentSpec = z.infer<typeof ExperimentSpec>;

/** The step an experiment starts from: its parent checkpoint's, or 0. */
export function startStep(spec: Pick<ExperimentSpec, 'parent'>): number {
  return spec.parent?.step ?? 0;
}

/** The step an experiment ends at, counted from its lineage's start. */
export function endStep(spec: Pick<ExperimentSpec, 'parent' | 'train'>): number {
  return startStep(spec) + spec.train.steps;
}

/** The learning-rate schedule's horizon: `train.scheduleSteps`, or the experiment's last step. */
export function scheduleHorizon(spec: Pick<ExperimentSpec, 'parent' | 'train'>): number {
  return spec.train.scheduleSteps ?? endStep(spec);
}

/**
 * What a continuation may change, and why (docs/lineage.md): the schedule (lr, minLr, warmup,
 * horizon), weight decay, β₂ and gradient clipping act only on future updates; the batch size only
 * on how many windows the batch RNG draws next (batches are random windows, no data cursor); the
 * segment's length, curve spacing and evaluation windows only on what is measured. Everything else
 * (the architecture, the dataset, the seed that fixes dropout masks, β₁ and ε) is the parent's.
 */
export const CONTINUATION_MAY_CHANGE = [
  'steps',
  'lr',
  'minLr',
  'warmupSteps',
  'scheduleSteps',
  'weightDecay',
  'beta2',
  'gradClip',
  'batchSize',
  'curveEvery',
] as const satisfies readonly (keyof TrainConfig)[];

/**
 * Why `child` cannot continue from `parent`'s final checkpoint, as a field path and a sentence, or
 * null. The parent reference itself (experiment, step) is checked by whoever knows the parent.
 */
export function continuationIssue(
  parent: ExperimentSpec,
  child: ExperimentSpec,
): { path: string; message: string } | null {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(parent.model, child.model))
    return { path: 'model', message: 'A continuation keeps its parent’s architecture.' };
  if (!same(parent.dataset, child.dataset))
    return { path: 'dataset', message: 'A continuation trains on its parent’s dataset.' };
  if (parent.template !== child.template || parent.seed !== child.seed)
    return { path: 'seed', message: 'A continuation keeps its parent’s template and seed.' };
  for (const key of Object.keys({ ...parent.train, ...child.train }) as (keyof TrainConfig)[]) {
    if ((CONTINUATION_MAY_CHANGE as readonly string[]).includes(key)) continue;
    if (parent.train[key] !== child.train[key])
      return { path: `train.${key}`, message: `A continuation may not change ${key}.` };
  }
  if (child.parent?.step !== endStep(parent))
    return {
      path: 'parent.step',
      message: `The parent’s final checkpoint is at step ${endStep(parent)}.`,
    };
  return null;
}

/** The spec's identity: SHA-256 of its canonical JSON. */
export function specHash(spec: ExperimentSpec): Promise<string> {
  return hashCanonical(spec);
}

/** Points on the loss curve: the mean training loss over each `curveEvery`-step segment. */
export function curveLength(train: TrainConfig): number {
  return Math.ceil(train.steps / train.curveEvery);
}

/** Training tokens the experiment consumes: its fixed budget (steps × batch × context). */
export function tokenBudget(spec: ExperimentSpec): number {
  return spec.train.steps * spec.train.batchSize * spec.model.blockSize;
}

/** Trainable parameters of the GPT (weight-tied head), as nanoGPT counts them. */
export function parameterCount(m: ModelConfig): number {
  const b = m.bias ? 1 : 0;
  const ln = m.nEmbd * (1 + b);
  const block =
    2 * ln +
    (m.nEmbd * 3 * m.nEmbd + b * 3 * m.nEmbd) +
    (m.nEmbd * m.nEmbd + b * m.nEmbd) +
    (m.nEmbd * 4 * m.nEmbd + b * 4 * m.nEmbd) +
    (4 * m.nEmbd * m.nEmbd + b * m.nEmbd);
  return m.vocabSize * m.nEmbd + m.blockSize * m.nEmbd + m.nLayer * block + ln;
}

/** Training FLOPs, 6·N·tokens plus attention (Kaplan et al. 2020, §2.1): the experiment's credit. */
export function trainingFlops(spec: ExperimentSpec): number {
  const m = spec.model;
  const perToken = 6 * parameterCount(m) + 12 * m.nLayer * m.blockSize * m.nEmbd;
  return perToken * tokenBudget(spec);
}
