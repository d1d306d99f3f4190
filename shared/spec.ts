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
  })
  .strict();
export type TrainConfig = z.infer<typeof TrainConfig>;

export const DatasetRef = z
  .object({ id: z.string().regex(/^[a-z0-9-]{1,40}$/), sha256: Sha256Hex })
  .strict();
export type DatasetRef = z.infer<typeof DatasetRef>;

export const ExperimentSpec = z
  .object({
    template: z.literal('gpt-char'),
    dataset: DatasetRef,
    model: ModelConfig,
    train: TrainConfig,
    seed: z.number().int().min(1).max(2147483647),
    evalWindows: z.number().int().min(1).max(4096), // how many of the manifest's pinned windows
  })
  .strict();
export type ExperimentSpec = z.infer<typeof ExperimentSpec>;

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
