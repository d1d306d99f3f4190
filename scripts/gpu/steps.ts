// One process trains the first steps of an ExperimentSpec with the shared training loop on one
// backend (Dawn's WebGPU, WASM or CPU) and prints one JSON line: adapter, losses, per-step times.
// bench-gpu.ts and the GPU test run it as a child, because Dawn's Vulkan loader is found through
// LD_LIBRARY_PATH, which only a new process reads (drivers.ts); a carried bundle runs it as
// `bench.mjs --child …`.
//
//   node scripts/gpu/steps.ts --spec '<ExperimentSpec JSON>' --data DIR --steps 5 --backend webgpu
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DatasetManifest, decodeTokens } from '../../shared/dataset.ts';
import { ExperimentSpec } from '../../shared/spec.ts';
import { trainSegment, type TrainData } from '../../shared/train/loop.ts';
import { setMatmulPrecision, type MatmulPrecision } from '../../shared/kernels/matmul.ts';
import {
  fusedKernelsOf,
  registerFusedKernels,
  type FusedKernel,
} from '../../shared/kernels/register.ts';
import { useDawn, type AdapterSummary, type FeatureLevel } from './dawn.ts';

export interface StepsResult {
  backend: string;
  adapter: AdapterSummary | null;
  steps: number;
  losses: number[];
  stepMs: number[]; // wall time of each step, the loss read back included
  msPerStep: number; // median after the warm-up steps
  /** CPU time of the whole process (every thread: a software adapter's too) per step, median after the
   * warm-up: steadier than wall time on a shared machine, and the work a CPU rasteriser does. */
  cpuMsPerStep: number;
  tokensPerSec: number;
  /** `--profile N`: N more steps under tf.profile, per step (kernel times need timestamp-query). */
  profile?: StepProfile;
}

export interface StepProfile {
  kernels: number; // tfjs kernel calls per step (a reshape is one and dispatches nothing)
  tabgridKernels: number; // of which Tabgrid's fused ones (shared/kernels/): 0 while the model calls none
  tabgridNames: string[]; // the fused kernels called
  kernelMs: number | null; // their GPU time per step, where the adapter has timestamp-query
  top: { name: string; calls: number; ms: number | null }[]; // by time (or calls), 12 at most
}

export async function loadData(dir: string): Promise<TrainData> {
  const manifest = DatasetManifest.parse(
    JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')),
  );
  const tokens = async (file: string) =>
    decodeTokens(manifest, (await readFile(join(dir, file))).buffer as ArrayBuffer);
  return {
    manifest,
    train: await tokens(manifest.train.file),
    val: await tokens(manifest.val.file),
  };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Starts the backend; WASM's module is imported only when asked (a carried bundle has no .wasm). */
async function start(backend: string): Promise<AdapterSummary | null> {
  if (backend === 'webgpu') {
    return useDawn({
      flags: (process.env.TABGRID_DAWN_FLAGS ?? '').split(',').filter(Boolean),
      featureLevel: (process.env.TABGRID_DAWN_FEATURE_LEVEL ?? 'core') as FeatureLevel,
    });
  }
  if (backend === 'wasm') {
    const name = '@tensorflow/tfjs-backend-wasm'; // a variable: bundlers leave it out
    await import(name);
  }
  if (!(await tf.setBackend(backend)))
    throw new Error(`the ${backend} backend does not start here`);
  await tf.ready();
  return null;
}

/** N steps from the start under tf.profile (their shaders already compiled by the timed run), per step. */
async function profileSteps(
  spec: ExperimentSpec,
  data: TrainData,
  n: number,
): Promise<StepProfile> {
  const info = await tf.profile(async () => {
    await trainSegment(spec, data, n);
    return [];
  });
  const byName = new Map<string, { calls: number; ms: number | null }>();
  for (const k of info.kernels) {
    const e = byName.get(k.name) ?? { calls: 0, ms: 0 };
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : null;
    byName.set(k.name, { calls: e.calls + 1, ms: e.ms === null || ms === null ? null : e.ms + ms });
  }
  const all = [...byName.entries()].map(([name, e]) => ({
    name,
    calls: e.calls / n,
    ms: e.ms === null ? null : e.ms / n,
  }));
  // Without timestamp-query the webgpu backend reports 0 ms for every kernel: then counts only.
  const timed = all.every((e) => e.ms !== null) && all.some((e) => e.ms! > 0);
  all.sort((a, b) => (timed ? b.ms! - a.ms! : b.calls - a.calls));
  return {
    kernels: info.kernels.length / n,
    tabgridKernels: info.kernels.filter((k) => k.name.startsWith('Tabgrid')).length / n,
    tabgridNames: [
      ...new Set(info.kernels.map((k) => k.name).filter((k) => k.startsWith('Tabgrid'))),
    ],
    kernelMs: timed ? all.reduce((t, e) => t + e.ms!, 0) : null,
    top: all.slice(0, 12).map((e) => (timed ? e : { ...e, ms: null })),
  };
}

/** Trains `steps` steps of `spec` with the shared loop (trainSegment: the worker's loop, no evaluation). */
export async function trainSteps(o: {
  spec: ExperimentSpec;
  dataDir: string;
  steps: number;
  warmup: number;
  backend: string;
  profile?: number;
  tabgridKernels?: readonly FusedKernel[]; // registered before training (all: `tabgrid`)
  matmulPrecision?: MatmulPrecision; // the tiled matmul's (f16 only to calibrate it: docs/gpu.md)
  log?: (line: string) => void;
}): Promise<StepsResult> {
  const data = await loadData(o.dataDir);
  const adapter = await start(o.backend);
  // Registered, they serve whatever calls them; the profile tells whether the model did.
  if (o.tabgridKernels) registerFusedKernels(o.tabgridKernels);
  if (o.matmulPrecision) setMatmulPrecision(o.matmulPrecision);
  const losses: number[] = [];
  const stepMs: number[] = [];
  const cpuMs: number[] = [];
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  await trainSegment(o.spec, data, o.steps, {
    onStep: (s) => {
      const now = performance.now();
      const cpu = process.cpuUsage(lastCpu);
      stepMs.push(now - last);
      cpuMs.push((cpu.user + cpu.system) / 1000);
      losses.push(s.loss);
      last = now;
      lastCpu = process.cpuUsage();
      o.log?.(
        `${o.backend} step ${s.step}/${o.steps} loss ${s.loss.toFixed(4)} ${stepMs.at(-1)!.toFixed(0)} ms`,
      );
    },
  });
  const timed = (xs: number[]) => median(xs.slice(Math.min(o.warmup, xs.length - 1)));
  const msPerStep = timed(stepMs);
  const profile = o.profile ? await profileSteps(o.spec, data, o.profile) : undefined;
  return {
    backend: tf.getBackend(),
    adapter,
    steps: o.steps,
    losses,
    stepMs,
    msPerStep,
    cpuMsPerStep: timed(cpuMs),
    tokensPerSec: (o.spec.train.batchSize * o.spec.model.blockSize * 1000) / msPerStep,
    ...(profile ? { profile } : {}),
  };
}

/** The command line above; prints the result and ends the process (Dawn's threads keep it alive). */
export async function stepsMain(argv: string[]): Promise<never> {
  const { values: opt } = parseArgs({
    args: argv,
    options: {
      spec: { type: 'string' },
      data: { type: 'string' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' }, // left out of the median: the first step compiles every shader
      backend: { type: 'string', default: 'webgpu' },
      profile: { type: 'string', default: '0' }, // profile this many more steps
      kernels: { type: 'string', default: 'stock' }, // or tabgrid (all of shared/kernels/'s fused kernels), a list (layerNorm,adamw), exclusions (tabgrid,-subgroups)
      'matmul-precision': { type: 'string', default: 'f32' }, // f16-storage, f16-accumulate: the tiled matmul's (needs shader-f16)
    },
  });
  if (!opt.spec || !opt.data) throw new Error('--spec and --data are required');
  const spec = ExperimentSpec.parse(
    JSON.parse(opt.spec.startsWith('@') ? await readFile(opt.spec.slice(1), 'utf8') : opt.spec),
  );
  const result = await trainSteps({
    spec,
    dataDir: opt.data,
    steps: Number(opt.steps),
    warmup: Number(opt.warmup),
    backend: opt.backend,
    profile: Number(opt.profile),
    tabgridKernels: fusedKernelsOf(opt.kernels),
    matmulPrecision: opt['matmul-precision'] as MatmulPrecision,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  console.log(JSON.stringify(result));
  process.exit(0);
}

// Run as a script, not when imported (nor inside a carried bundle, whose file has another name).
const thisFile = fileURLToPath(import.meta.url);
if (thisFile.endsWith('steps.ts') && process.argv[1] === thisFile)
  await stepsMain(process.argv.slice(2));
