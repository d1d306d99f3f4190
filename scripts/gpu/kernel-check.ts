// Checks and times shared/kernels/layer-norm.ts's fused WGSL LayerNorm in one process on Dawn: value
// and gradients (x and weight) against the stock-op formula on WASM, and forward + backward time
// against the stock ops on the same WebGPU device. Prints one JSON line (KernelCheck). Run as a
// child on a driver (drivers.ts's runOnDriver), like steps.ts:
//
//   node scripts/gpu/kernel-check.ts [--shapes 768x128,37x96] [--iterations 5]
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { layerNorm, layerNormReference, registerLayerNormKernels } from '../../shared/kernels/layer-norm.ts';
import { Rng } from '../../shared/rng.ts';
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

export interface KernelCheck {
  adapter: AdapterSummary;
  reference: string; // the backend the stock formula ran on
  layerNorm: ShapeCheck[];
}

function data(n: number, rng: Rng, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + rng.normal());
}

/** Value and gradients of Σ f(x, w)·r, as arrays, on the current backend. */
async function valueAndGrads(f: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor, x: Float32Array, w: Float32Array, r: Float32Array, rows: number, C: number) {
  const [value, dx, dw] = tf.tidy(() => {
    const xt = tf.tensor2d(x, [rows, C]);
    const wt = tf.tensor1d(w);
    const rt = tf.tensor2d(r, [rows, C]);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), rt)))([xt, wt]);
    return [f(xt, wt), gx!, gw!];
  });
  const out = { value: (await value.data()) as Float32Array, dx: (await dx.data()) as Float32Array, dw: (await dw.data()) as Float32Array };
  tf.dispose([value, dx, dw]);
  return out;
}

/** ms for one forward + backward, the result read back (the whole queue done), median over `n`. */
async function time(f: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor, rows: number, C: number, n: number): Promise<number> {
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
      reference: { type: 'string', default: 'wasm' }, // or webgpu: the stock ops on the same device (a carried bundle has no WASM)
    },
  });
  const adapter = await useDawn({
    flags: (process.env.TABGRID_DAWN_FLAGS ?? '').split(',').filter(Boolean),
    featureLevel: (process.env.TABGRID_DAWN_FEATURE_LEVEL ?? 'core') as FeatureLevel,
  });
  registerLayerNormKernels();
  const shapes = opt.shapes.split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const rng = new Rng(5);
  const inputs = shapes.map(([rows, C]) => ({ rows, C, x: data(rows * C, rng, 0.5), w: data(C, rng, 1), r: data(rows * C, rng) }));
  const gpu = [];
  for (const s of inputs) {
    gpu.push({
      fused: await valueAndGrads(layerNorm, s.x, s.w, s.r, s.rows, s.C),
      stockMs: await time(layerNormReference, s.rows, s.C, Number(opt.iterations)),
      tabgridMs: await time(layerNorm, s.rows, s.C, Number(opt.iterations)),
    });
  }
  if (opt.reference === 'wasm') {
    const name = '@tensorflow/tfjs-backend-wasm'; // a variable: bundlers leave it out
    await import(name);
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend does not start');
  }
  const layerNormChecks: ShapeCheck[] = [];
  for (const [i, s] of inputs.entries()) {
    const ref = await valueAndGrads(layerNormReference, s.x, s.w, s.r, s.rows, s.C);
    const g = gpu[i]!;
    layerNormChecks.push({ rows: s.rows, C: s.C, value: relMax(g.fused.value, ref.value), dx: relMax(g.fused.dx, ref.dx), dw: relMax(g.fused.dw, ref.dw), stockMs: g.stockMs, tabgridMs: g.tabgridMs });
  }
  const result: KernelCheck = { adapter, reference: opt.reference, layerNorm: layerNormChecks };
  console.log(JSON.stringify(result));
  process.exit(0);
}

// Run as a script, not when imported (nor inside a carried bundle, whose file has another name).
const thisFile = fileURLToPath(import.meta.url);
if (thisFile.endsWith('kernel-check.ts') && process.argv[1] === thisFile) await kernelCheckMain(process.argv.slice(2));
