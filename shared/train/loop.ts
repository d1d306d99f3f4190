// The training loop: a pure step inside tf.tidy, a loop that takes callbacks (onStep, shouldStop,
// onCheckpoint), and val_bpb on the manifest's pinned windows. No UI, no worker, no DOM: the Web
// Worker and the Node tests drive this same code.
import * as tf from '@tensorflow/tfjs';
import type { DatasetManifest, TokenArray } from '../dataset.ts';
import { FusedAdamW, fusedAdamWAvailable } from '../kernels/adamw.ts';
import { GPT, type Dropout, type Param } from '../model/gpt.ts';
import type { Metrics } from '../protocol.ts';
import { Rng, type RngState } from '../rng.ts';
import {
  curveLength,
  endStep,
  scheduleHorizon,
  startStep,
  type ExperimentSpec,
  type TrainConfig,
} from '../spec.ts';
import { AdamW, learningRate, type AdamWState } from './adamw.ts';
import { commitSteps } from '../commit.ts';

export interface TrainData {
  manifest: DatasetManifest;
  train: TokenArray;
  val: TokenArray;
}

export interface StepInfo {
  step: number; // this experiment's steps done so far (1-based after the first step)
  steps: number; // this experiment's steps (a continuation's own, not its lineage's)
  loss: number;
  lr: number;
  msPerStep: number; // mean over this session's steps
}

/**
 * Everything needed to resume exactly: weights, optimiser, batch RNG, losses so far. Steps count
 * from the lineage's start, so a continuation's checkpoints carry its ancestors' losses too.
 */
export interface TrainCheckpoint {
  step: number;
  weights: Float32Array[]; // in GPT.params order
  optimizer: AdamWState;
  batchRng: RngState;
  losses: number[]; // the training loss of every step so far
  wallMs: number;
}

export interface LoopHooks {
  onStep?: (s: StepInfo) => void | Promise<void>;
  shouldStop?: () => boolean;
  /** A checkpoint of this run to resume, or — for a continuation — its parent's final checkpoint. */
  resumeFrom?: TrainCheckpoint;
  /** Called every `checkpointEveryMs` of training and when stopped. */
  onCheckpoint?: (c: TrainCheckpoint) => Promise<void>;
  checkpointEveryMs?: number;
  /** Called with the state after each of shared/commit.ts's commitSteps, for its commitment. */
  onCommit?: (c: TrainCheckpoint) => Promise<void>;
}

export type TrainOutcome =
  { stopped: true } | { stopped: false; metrics: Omit<Metrics, 'backend'> };

/** A batch of B random windows of T+1 tokens: inputs (B, T) and targets shifted by one (B, T). */
export function sampleBatch(
  data: TokenArray,
  B: number,
  T: number,
  rng: Rng,
): { x: Int32Array; y: Int32Array } {
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = rng.int(data.length - T - 1); // nanoGPT: torch.randint(len(data) - block_size)
    for (let t = 0; t < T; t++) {
      x[b * T + t] = data[start + t]!;
      y[b * T + t] = data[start + t + 1]!;
    }
  }
  return { x, y };
}

/**
 * AdamW, on shared/kernels/adamw.ts's fused kernels where they run (WebGPU, once
 * web/src/worker/backend.ts registered them): 4 dispatches per parameter where the stock ops take 17
 * (docs/gpu.md). Both keep the same state layout, so checkpoints move between them.
 */
export function optimizerFor(params: Param[], cfg: TrainConfig): AdamW | FusedAdamW {
  return fusedAdamWAvailable() ? new FusedAdamW(params, cfg) : new AdamW(params, cfg);
}

/**
 * One optimisation step on one batch, in one tf.tidy around the gradients and the update (tidy
 * cannot be async: docs/backends.md). Returns the batch's loss before the update; the caller disposes it.
 */
export function trainStep(
  model: GPT,
  opt: Pick<AdamW, 'apply'>,
  batch: { x: Int32Array; y: Int32Array },
  lr: number,
  drop: Dropout | null,
): tf.Scalar {
  const T = model.config.blockSize; // sampleBatch draws full-context windows: (B, T)
  const B = batch.x.length / T;
  const vars = model.params.map((p) => p.variable);
  return tf.tidy(() => {
    const xs = tf.tensor2d(batch.x, [B, T], 'int32');
    const ys = tf.tensor2d(batch.y, [B, T], 'int32');
    const { value, grads } = tf.variableGrads(() => model.loss(xs, ys, drop), vars);
    opt.apply(
      vars.map((v) => grads[v.name]!),
      lr,
    );
    return value;
  });
}

/** Fresh dropout seeds for every call within one step, fixed by (spec seed, step). */
export function dropoutFor(spec: ExperimentSpec, step: number): Dropout | null {
  const rate = spec.model.dropout;
  if (rate === 0) return null;
  const rng = Rng.derive(spec.seed, `dropout:${step}`);
  return (x) => tf.dropout(x, rate, undefined, 1 + rng.int(2147483646));
}

/**
 * val_bpb = Σ nats / (ln 2 × Σ UTF-8 bytes of the targets) over the first `spec.evalWindows` pinned
 * windows, each of blockSize inputs. Returns val_bpb and the mean loss per token (nats).
 */
export async function evaluate(
  model: GPT,
  spec: ExperimentSpec,
  data: TrainData,
): Promise<{ valBpb: number; valLoss: number }> {
  const T = spec.model.blockSize;
  const { starts, maxContext } = data.manifest.evalWindows;
  if (T > maxContext)
    throw new Error(`context ${T} exceeds the dataset's pinned windows (${maxContext})`);
  if (spec.evalWindows > starts.length)
    throw new Error(
      `the dataset pins ${starts.length} windows, the spec asks for ${spec.evalWindows}`,
    );
  const windows = starts.slice(0, spec.evalWindows);
  let nats = 0;
  let bytes = 0;
  let tokens = 0;
  const chunk = 16;
  for (let i = 0; i < windows.length; i += chunk) {
    const group = windows.slice(i, i + chunk);
    const x = new Int32Array(group.length * T);
    const y = new Int32Array(group.length * T);
    group.forEach((s, b) => {
      for (let t = 0; t < T; t++) {
        x[b * T + t] = data.val[s + t]!;
        y[b * T + t] = data.val[s + t + 1]!;
        bytes += data.manifest.tokenBytes[y[b * T + t]!]!;
      }
    });
    const sum = tf.tidy(() =>
      tf.sum(
        model.tokenLosses(
          tf.tensor2d(x, [group.length, T], 'int32'),
          tf.tensor2d(y, [group.length, T], 'int32'),
          null,
        ),
      ),
    );
    nats += (await sum.data())[0]!;
    sum.dispose();
    tokens += group.length * T;
  }
  return { valBpb: nats / (Math.LN2 * bytes), valLoss: nats / tokens };
}

/** Mean training loss over each `curveEvery`-step segment: the curve replicas are compared on. */
export function lossCurve(losses: number[], spec: ExperimentSpec): number[] {
  const every = spec.train.curveEvery;
  return Array.from({ length: curveLength(spec.train) }, (_, i) => {
    const seg = losses.slice(i * every, (i + 1) * every);
    return seg.reduce((a, b) => a + b, 0) / seg.length;
  });
}

export async function trainExperiment(
  spec: ExperimentSpec,
  data: TrainData,
  hooks: LoopHooks = {},
): Promise<TrainOutcome> {
  const run = await train(spec, data, endStep(spec), hooks);
  if (run.stopped) return run;
  const wallMs = run.wallMs;
  const { steps, batchSize: B } = spec.train;
  return {
    stopped: false,
    metrics: {
      ...run.eval!,
      curve: lossCurve(run.losses.slice(startStep(spec)), spec),
      steps,
      tokens: steps * B * spec.model.blockSize,
      wallMs,
      msPerStep: wallMs / steps,
    },
  };
}

/**
 * A spot check's segment: trains from `hooks.resumeFrom` (a revealed checkpoint, or a
 * continuation's parent checkpoint) or from the seed up to `toStep` (steps counted from the
 * lineage's start) and returns the mean training loss of each `curveEvery`-step segment in between
 * — the numbers the checked result's curve must match (edge/src/trust/spot-checks.ts). Null when
 * stopped.
 */
export async function trainSegment(
  spec: ExperimentSpec,
  data: TrainData,
  toStep: number,
  hooks: Pick<LoopHooks, 'resumeFrom' | 'onStep' | 'shouldStop'> = {},
): Promise<number[] | null> {
  const from = hooks.resumeFrom?.step ?? 0;
  const every = spec.train.curveEvery;
  if ((from - startStep(spec)) % every !== 0 || toStep <= from || toStep > endStep(spec))
    throw new Error(`a segment runs between curve boundaries, not [${from}, ${toStep})`);
  const run = await train(spec, data, toStep, hooks);
  if (run.stopped) return null;
  const losses = run.losses.slice(from);
  return Array.from({ length: Math.ceil(losses.length / every) }, (_, i) => {
    const seg = losses.slice(i * every, (i + 1) * every);
    return seg.reduce((a, b) => a + b, 0) / seg.length;
  });
}

type Run =
  | { stopped: true }
  | {
      stopped: false;
      losses: number[];
      wallMs: number;
      eval: { valBpb: number; valLoss: number } | null;
    };

/** Trains up to `untilStep` (evaluating only a full run) with the hooks: the one loop behind both. */
async function train(
  spec: ExperimentSpec,
  data: TrainData,
  untilStep: number,
  hooks: LoopHooks,
): Promise<Run> {
  const { batchSize: B, steps } = spec.train;
  const T = spec.model.blockSize;
  const start = startStep(spec);
  const horizon = scheduleHorizon(spec);
  if (spec.model.vocabSize !== data.manifest.vocab.length)
    throw new Error('the spec and the dataset disagree on the vocabulary');
  if ((hooks.resumeFrom?.step ?? 0) < start)
    throw new Error(`a continuation starts from its parent's checkpoint at step ${start}`);
  const model = new GPT(spec.model, spec.seed);
  const opt = optimizerFor(model.params, spec.train);
  const vars = model.params.map((p) => p.variable);
  const commits = new Set(hooks.onCommit ? commitSteps(spec.train).map((k) => start + k) : []);
  let rng = Rng.derive(spec.seed, 'batches');
  let losses: number[] = [];
  let priorWallMs = 0;
  try {
    const resume = hooks.resumeFrom;
    if (resume) {
      tf.tidy(() =>
        resume.weights.forEach((w, i) => vars[i]!.assign(tf.tensor(w, vars[i]!.shape))),
      );
      opt.load(resume.optimizer);
      rng = new Rng(resume.batchRng);
      losses = [...resume.losses];
      priorWallMs = resume.wallMs;
    }
    const t0 = performance.now();
    let lastCheckpoint = t0;
    const snapshot = async (): Promise<TrainCheckpoint> => ({
      step: losses.length,
      weights: await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array)),
      optimizer: await opt.state(),
      batchRng: rng.state,
      losses: [...losses],
      wallMs: priorWallMs + performance.now() - t0,
    });

    for (let step = losses.length; step < untilStep; step++) {
      if (hooks.shouldStop?.()) {
        if (hooks.onCheckpoint) await hooks.onCheckpoint(await snapshot());
        return { stopped: true };
      }
      const lr = learningRate(step, spec.train, horizon);
      const loss = trainStep(
        model,
        opt,
        sampleBatch(data.train, B, T, rng),
        lr,
        dropoutFor(spec, step),
      );
      const value = (await loss.data())[0]!; // async read only (WebGPU in a worker: docs/backends.md)
      loss.dispose();
      if (!Number.isFinite(value))
        throw new Error(`the loss diverged at step ${step + 1} (${value})`);
      losses.push(value);
      const msPerStep = (performance.now() - t0) / (step + 1 - (resume?.step ?? 0));
      await hooks.onStep?.({ step: step + 1 - start, steps, loss: value, lr, msPerStep });
      if (commits.has(step + 1)) await hooks.onCommit!(await snapshot());
      if (
        hooks.onCheckpoint &&
        performance.now() - lastCheckpoint >= (hooks.checkpointEveryMs ?? 30_000)
      ) {
        await hooks.onCheckpoint(await snapshot());
        lastCheckpoint = performance.now();
      }
    }
    const evaluated = untilStep === start + steps ? await evaluate(model, spec, data) : null;
    return {
      stopped: false,
      losses,
      wallMs: priorWallMs + performance.now() - t0,
      eval: evaluated,
    };
  } finally {
    opt.dispose();
    model.dispose();
  }
}
