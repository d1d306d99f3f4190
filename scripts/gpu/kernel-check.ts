// Checks and times Tabgrid's fused WGSL kernels in one process on Dawn: shared/kernels/layer-norm.ts
// (value and gradients against the stock-op formula on WASM; forward + backward time against the
// stock ops on the same device) and shared/kernels/adamw.ts (weights and moments after a few updates
// against shared/train/adamw.ts on WASM; time per update against it on the same device). Prints one
// JSON line (KernelCheck). Run as a child on a driver (drivers.ts's runOnDriver), like steps.ts:
//
//   node scripts/gpu/kernel-check.ts [--shapes 768x128,37x96] [--iterations 5]
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FusedAdamW, registerAdamWKernels } from '../../shared/kernels/adamw.ts';
import {
  layerNorm,
  layerNormReference,
  registerLayerNormKernels,
} from '../../shared/kernels/layer-norm.ts';
import { GPT } from '../../shared/model/gpt.ts';
import { PRESETS, type PresetName } from '../../shared/model/presets.ts';
import { Rng } from '../../shared/rng.ts';
import { AdamW } from '../../shared/train/adamw.ts';
import { useDawn, type AdapterSummary, type FeatureLevel } from './dawn.ts';
import { median } from './steps.ts';

export interface ShapeCheck {
  rows: number;
  C: number;
  /** max |fused on WebGPU − stock formula on the reference backend| of the value, dx and dw, each over max(1, max |WASM|). */
  value: number;
  dx: number;
  dw: number;
  stockMs: number; // forward + backward, median over the iterations
  tabgridMs: number;
}

export interface AdamWCheck {
  preset: string;
  updates: number;
  /** max |fused on WebGPU − stock on the reference| of weights, m and v after the updates, relative as above. */
  weights: number;
  m: number;
  v: number;
  stockMs: number; // one update of every parameter, clip included, median over the iterations
  tabgridMs: number;
}

export interface KernelCheck {
  adapter: AdapterSummary;
  reference: string; // the backend the stock formula ran on
  layerNorm: ShapeCheck[];
  adamw: AdamWCheck;
}

/** The model's parameters with seeded gradients, `updates` AdamW steps, then weights and moments as arrays. */
async function adamwRun(
  make: typeof AdamW | typeof FusedAdamW,
  preset: PresetName,
  grads: Float32Array[][],
) {
  const p = PRESETS[preset];
  const model = new GPT({ ...p.model, vocabSize: 65 }, 3);
  const opt = new make(model.params, p.train);
  for (const [step, gs] of grads.entries()) {
    tf.tidy(() =>
      opt.apply(
        gs.map((g, i) => tf.tensor(g, model.params[i]!.variable.shape)),
        1e-3 * (step + 1),
      ),
    );
  }
  const weights = await Promise.all(
    model.params.map(async (q) => (await q.variable.data()) as Float32Array),
  );
  const state = await opt.state();
  opt.dispose();
  model.dispose();
  return { weights, m: state.m, v: state.v };
}

/** ms for one update of every parameter on the current backend, median over `n` after one warm-up. */
async function timeUpdate(
  make: typeof AdamW | typeof FusedAdamW,
  preset: PresetName,
  grads: Float32Array[],
  n: number,
): Promise<number> {
  const p = PRESETS[preset];
  const model = new GPT({ ...p.model, vocabSize: 65 }, 3);
  const opt = new make(model.params, p.train);
  const gs = grads.map((g, i) => tf.tensor(g, model.params[i]!.variable.shape));
  const ms: number[] = [];
  for (let i = 0; i <= n; i++) {
    const t0 = performance.now();
    tf.tidy(() => opt.apply(gs, 1e-3));
    await model.params[0]!.variable.data();
    if (i > 0) ms.push(performance.now() - t0);
  }
  tf.dispose(gs);
  opt.dispose();
  model.dispose();
  return median(ms);
}

const maxOver = (a: Float32Array[], b: Float32Array[]) =>
  Math.max(...a.map((x, i) => relMax(x, b[i]!)));

function data(n: number, rng: Rng, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + rng.normal());
}

/** Value and gradients of Σ f(x, w)·r, as arrays, on the current backend. */
async function valueAndGrads(
  f: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor,
  x: Float32Array,
  w: Float32Array,
  r: Float32Array,
  rows: number,
  C: number,
) {
  const [value, dx, dw] = tf.tidy(() => {
    const xt = tf.tensor2d(x, [rows, C]);
    const wt = tf.tensor1d(w);
    const rt = tf.tensor2d(r, [rows, C]);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), rt)))([
      xt,
      wt,
    ]);
    return [f(xt, wt), gx!, gw!];
  });
  const out = {
    value: (await value.data()) as Float32Array,
    dx: (await dx.data()) as Float32Array,
    dw: (await dw.data()) as Float32Array,
  };
  tf.dispose([value, dx, dw]);
  return out;
}

/** ms for one forward + backward, the result read back (the whole queue done), median over `n`. */
async function time(
  f: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor,
  rows: number,
  C: number,
  n: number,
): Promise<number> {
  const x = tf.randomNormal([rows, C], 0, 1, 'float32', 1);
  const w = tf.randomNormal([C], 1, 0.1, 'float32', 2);
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(f(a, b)));
  const ms: number[] = [];
  for (let i = 0; i <= n; i++) {
    const t0 = performance.now();
    const s = tf.tidy(() => {
      const [gx, gw] = g([x, w]);
      return tf.add(tf.sum(gx!), tf.sum(gw!));
    });
    await s.data();
    s.dispose();
    if (i > 0) ms.push(performance.now() - t0); // the first compiles the shaders
  }
  tf.dispose([x, w]);
  return median(ms);
}

const relMax = (a: Float32Array, b: Float32Array) => {
  let d = 0;
  let m = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
};

/** The command line above; prints the result and ends the process (Dawn's threads keep it alive). */
export async function kernelCheckMain(argv: string[]): Promise<never> {
  const { values: opt } = parseArgs({
    args: argv,
    options: {
      // demo and nanogpt-cpu's (B·T, C), odd sizes across the 64-thread and 64-row boundaries.
      shapes: { type: 'string', default: '512x64,768x128,37x96,130x200' },
      iterations: { type: 'string', default: '5' },
      'adamw-preset': { type: 'string', default: 'nanogpt-cpu' }, // the model whose parameters AdamW updates
      reference: { type: 'string', default: 'wasm' }, // or webgpu: the stock ops on the same device (a carried bundle has no WASM)
    },
  });
  const adapter = await useDawn({
    flags: (process.env.TABGRID_DAWN_FLAGS ?? '').split(',').filter(Boolean),
    featureLevel: (process.env.TABGRID_DAWN_FEATURE_LEVEL ?? 'core') as FeatureLevel,
  });
  registerLayerNormKernels();
  registerAdamWKernels();
  const shapes = opt.shapes.split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const rng = new Rng(5);
  const inputs = shapes.map(([rows, C]) => ({
    rows,
    C,
    x: data(rows * C, rng, 0.5),
    w: data(C, rng, 1),
    r: data(rows * C, rng),
  }));
  const gpu = [];
  for (const s of inputs) {
    gpu.push({
      fused: await valueAndGrads(layerNorm, s.x, s.w, s.r, s.rows, s.C),
      stockMs: await time(layerNormReference, s.rows, s.C, Number(opt.iterations)),
      tabgridMs: await time(layerNorm, s.rows, s.C, Number(opt.iterations)),
    });
  }
  // Gradients large enough that the clip (norm 1) scales every update, as in early training.
  const preset = opt['adamw-preset'] as PresetName;
  const shapesOf = new GPT({ ...PRESETS[preset].model, vocabSize: 65 }, 3);
  const sizes = shapesOf.params.map((q) => q.variable.size);
  shapesOf.dispose();
  const updates = 3;
  const grads = Array.from({ length: updates }, () => sizes.map((n) => data(n, rng)));
  const fusedAdamW = await adamwRun(FusedAdamW, preset, grads);
  const adamwTimes = {
    stockMs: await timeUpdate(AdamW, preset, grads[0]!, Number(opt.iterations)),
    tabgridMs: await timeUpdate(FusedAdamW, preset, grads[0]!, Number(opt.iterations)),
  };
  if (opt.reference === 'wasm') {
    const name = '@tensorflow/tfjs-backend-wasm'; // a variable: bundlers leave it out
    await import(name);
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend does not start');
  }
  const layerNormChecks: ShapeCheck[] = [];
  for (const [i, s] of inputs.entries()) {
    const ref = await valueAndGrads(layerNormReference, s.x, s.w, s.r, s.rows, s.C);
    const g = gpu[i]!;
    layerNormChecks.push({
      rows: s.rows,
      C: s.C,
      value: relMax(g.fused.value, ref.value),
      dx: relMax(g.fused.dx, ref.dx),
      dw: relMax(g.fused.dw, ref.dw),
      stockMs: g.stockMs,
      tabgridMs: g.tabgridMs,
    });
  }
  const stock = await adamwRun(AdamW, preset, grads);
  const adamw: AdamWCheck = {
    preset,
    updates,
    weights: maxOver(fusedAdamW.weights, stock.weights),
    m: maxOver(fusedAdamW.m, stock.m),
    v: maxOver(fusedAdamW.v, stock.v),
    ...adamwTimes,
  };
  const result: KernelCheck = {
    adapter,
    reference: opt.reference,
    layerNorm: layerNormChecks,
    adamw,
  };
  console.log(JSON.stringify(result));
  process.exit(0);
}

// Run as a script, not when imported (nor inside a carried bundle, whose file has another name).
const thisFile = fileURLToPath(import.meta.url);
if (thisFile.endsWith('kernel-check.ts') && process.argv[1] === thisFile)
  await kernelCheckMain(process.argv.slice(2));
