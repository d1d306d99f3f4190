// The benchmark worker: the volunteer trainer's backend choice and the shared training loop, timed
// step by step, then optionally a kernel-by-kernel profile of a few more steps (tf.profile).
import * as tf from '@tensorflow/tfjs';
import * as Comlink from 'comlink';
import { decodeCheckpoint, encodeCheckpoint } from '../../../shared/commit.ts';
import { sha256, toBase64Url } from '../../../shared/crypto.ts';
import {
  DatasetManifest,
  datasetUrl,
  decodeTokens,
  type TokenArray,
} from '../../../shared/dataset.ts';
import { GPT } from '../../../shared/model/gpt.ts';
import { Rng } from '../../../shared/rng.ts';
import { specHash, type ExperimentSpec } from '../../../shared/spec.ts';
import { learningRate } from '../../../shared/train/adamw.ts';
import {
  dropoutFor,
  optimizerFor,
  sampleBatch,
  trainExperiment,
  trainStep,
  type TrainCheckpoint,
  type TrainData,
} from '../../../shared/train/loop.ts';
import { pickBackend } from '../worker/backend.ts';
import type { BenchApi, BenchRequest, BenchResult, KernelTime } from './types.ts';

async function fetchTokens(
  manifest: DatasetManifest,
  file: { file: string; sha256: string },
): Promise<TokenArray> {
  const res = await fetch(datasetUrl(manifest.id, file.file));
  if (!res.ok) throw new Error(`${file.file}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if ((await sha256(bytes)) !== file.sha256)
    throw new Error(`${file.file} does not match its SHA-256`);
  return decodeTokens(manifest, bytes.buffer);
}

async function loadData(id: string): Promise<TrainData> {
  const res = await fetch(datasetUrl(id, 'manifest.json'));
  if (!res.ok) throw new Error(`dataset ${id}: HTTP ${res.status}`);
  const manifest = DatasetManifest.parse(await res.json());
  return {
    manifest,
    train: await fetchTokens(manifest, manifest.train),
    val: await fetchTokens(manifest, manifest.val),
  };
}

/** A parent checkpoint, fetched and checked against its hash before a step is trained from it. */
async function fetchCheckpoint(ref: NonNullable<BenchRequest['resume']>): Promise<TrainCheckpoint> {
  const res = await fetch(ref.url);
  if (!res.ok) throw new Error(`${ref.url}: HTTP ${res.status}`);
  const { state } = await decodeCheckpoint(new Uint8Array(await res.arrayBuffer()), ref.sha256);
  return { ...state, wallMs: 0 };
}

/** A step-0 checkpoint with initSeed's weights and batchSeed's batch order (calibration variants). */
async function startFrom(
  spec: ExperimentSpec,
  v: NonNullable<BenchRequest['variant']>,
): Promise<TrainCheckpoint> {
  const model = new GPT(spec.model, v.initSeed ?? spec.seed);
  const weights = await Promise.all(
    model.params.map(async (p) => (await p.variable.data()) as Float32Array),
  );
  model.dispose();
  const zeros = weights.map((w) => new Float32Array(w.length));
  return {
    step: 0,
    weights,
    optimizer: { t: 0, m: zeros, v: zeros.map((z) => z.slice()) },
    batchRng: Rng.derive(v.batchSeed ?? spec.seed, 'batches').state,
    losses: [],
    wallMs: 0,
  };
}

/** Kernel time per step over `steps` profiled steps of a fresh model, slowest kernel first. */
async function profile(
  spec: ExperimentSpec,
  data: TrainData,
  steps: number,
): Promise<NonNullable<BenchResult['profile']>> {
  const model = new GPT(spec.model, spec.seed);
  const opt = optimizerFor(model.params, spec.train); // as trainExperiment: fused on WebGPU
  const rng = Rng.derive(spec.seed, 'batches');
  const { batchSize: B } = spec.train;
  const T = spec.model.blockSize;
  const step = (i: number) =>
    trainStep(
      model,
      opt,
      sampleBatch(data.train, B, T, rng),
      learningRate(i, spec.train),
      dropoutFor(spec, i),
    );
  try {
    for (let i = 0; i < 2; i++) tf.dispose(await step(i).data()); // warm-up: kernels, caches
    const byName = new Map<string, KernelTime>();
    let wallMs = 0;
    for (let i = 2; i < 2 + steps; i++) {
      const t0 = performance.now();
      const info = await tf.profile(async () => {
        const loss = step(i);
        await loss.data();
        return loss;
      });
      wallMs += performance.now() - t0;
      for (const k of info.kernels) {
        const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
        const e = byName.get(k.name) ?? { name: k.name, ms: 0, calls: 0 };
        e.ms += ms / steps;
        e.calls += 1 / steps;
        byName.set(k.name, e);
      }
      tf.dispose(info.result as tf.Tensor);
    }
    const kernels = [...byName.values()].sort((a, b) => b.ms - a.ms);
    // "forward" is a tf.customGrad op (matmul, gmm, gelu): its inner kernels are listed on their own.
    const kernelMs = kernels.filter((k) => k.name !== 'forward').reduce((s, k) => s + k.ms, 0);
    return { wallMs: wallMs / steps, kernelMs, kernels };
  } finally {
    opt.dispose();
    model.dispose();
  }
}

const api: BenchApi = {
  async run(req: BenchRequest, log: (line: string) => void): Promise<BenchResult> {
    const info = await pickBackend(req.backend, { threads: req.threads, probeSoftware: true });
    if (req.backend !== 'auto' && info.backend !== req.backend)
      throw new Error(`asked for ${req.backend}, got ${info.backend}`);
    log(`${req.backend}: ${JSON.stringify(info)}`);
    const data = await loadData(req.datasetId);
    const stepMs: number[] = [];
    const losses: number[] = [];
    const steps = req.spec.train.steps;
    const every = Math.max(1, Math.round(steps / 10));
    const resumeFrom = req.resume
      ? await fetchCheckpoint(req.resume)
      : req.variant
        ? await startFrom(req.spec, req.variant)
        : undefined;
    let final: TrainCheckpoint | undefined;
    let last = performance.now(); // the first step also counts the model's construction: a warm-up step
    const outcome = await trainExperiment(req.spec, data, {
      resumeFrom,
      ...(req.keepFinal && { onCommit: async (c: TrainCheckpoint) => void (final = c) }),
      onStep: (s) => {
        const now = performance.now();
        stepMs.push(now - last);
        losses.push(s.loss);
        last = now;
        if (s.step % every === 0 || s.step === 1)
          log(
            `${req.backend} step ${s.step}/${steps} loss ${s.loss.toFixed(4)} ${stepMs.at(-1)!.toFixed(0)} ms`,
          );
      },
    });
    if (outcome.stopped) throw new Error('training stopped unexpectedly');
    const evalMs = performance.now() - last;
    const result: BenchResult = { info, stepMs, losses, ...outcome.metrics, evalMs };
    if (final) {
      const { bytes, commitment } = await encodeCheckpoint(await specHash(req.spec), final);
      result.final = { base64: toBase64Url(bytes), sha256: commitment, bytes: bytes.length };
    }
    if (req.profileSteps) {
      result.profile = await profile(req.spec, data, req.profileSteps);
      log(
        `${req.backend} profile: ${result.profile.wallMs.toFixed(0)} ms/step wall, ${result.profile.kernelMs.toFixed(0)} ms in kernels`,
      );
    }
    return result;
  },
};

Comlink.expose(api);
