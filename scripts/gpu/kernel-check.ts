// Checks and times Tabgrid's fused WGSL kernels in one process on Dawn: shared/kernels/layer-norm.ts
// (value and gradients against the stock-op formula on WASM; forward + backward time against the
// stock ops on the same device), shared/kernels/attention.ts (the same, against gpt.ts's `attend`:
// attention-check.ts), shared/kernels/cross-entropy.ts (cross-entropy-check.ts), shared/kernels/gelu.ts,
// shared/kernels/matmul.ts and mlp.ts (matmul-check.ts) and shared/kernels/adamw.ts (weights and moments after a few updates
// against shared/train/adamw.ts on WASM; time per update against it on the same device). Prints one
// JSON line (KernelCheck). Run as a child on a driver (drivers.ts's runOnDriver), like steps.ts:
//
// `--kernels tabgrid,-subgroups` leaves the subgroup reductions out; `--f16` checks the matmul and MLP
// again with each f16 precision (calibration only, where the device has shader-f16).
//
//   node scripts/gpu/kernel-check.ts [--shapes 768x128,37x96] [--attention 12x64x4x32] [--iterations 5]
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FusedAdamW } from '../../shared/kernels/adamw.ts';
import { subgroupsOn } from '../../shared/kernels/features.ts';
import { setMatmulPrecision, type MatmulPrecision } from '../../shared/kernels/matmul.ts';
import { fusedKernelsOf, registerFusedKernels } from '../../shared/kernels/register.ts';
import { layerNorm, layerNormReference } from '../../shared/kernels/layer-norm.ts';
import { gelu, geluStock, GPT } from '../../shared/model/gpt.ts';
import { PRESETS, type PresetName } from '../../shared/model/presets.ts';
import { Rng } from '../../shared/rng.ts';
import { AdamW } from '../../shared/train/adamw.ts';
import { useDawn, type AdapterSummary, type FeatureLevel } from './dawn.ts';
import { median } from './steps.ts';
import {
  attentionAgainstReference,
  attentionCase,
  attentionOnGpu,
  type AttentionCheck,
} from './attention-check.ts';
import { againstReference, data, onGpu, relMax } from './op-check.ts';
import {
  matmulAgainstReference,
  matmulCase,
  matmulOnGpu,
  type MatmulCheck,
} from './matmul-check.ts';
import {
  crossEntropyAgainstReference,
  crossEntropyCase,
  crossEntropyOnGpu,
  type CrossEntropyCheck,
} from './cross-entropy-check.ts';

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

export interface GeluCheck {
  rows: number;
  C: number;
  value: number; // max rel. error vs the reference, as above
  dx: number;
  stockMs: number;
  tabgridMs: number;
}

export interface KernelCheck {
  adapter: AdapterSummary;
  reference: string; // the backend the stock formula ran on
  subgroups: boolean; // whether the reductions ran on subgroup operations (features.ts)
  layerNorm: ShapeCheck[];
  attention: AttentionCheck[];
  crossEntropy: CrossEntropyCheck[];
  gelu: GeluCheck[];
  matmul: MatmulCheck[];
  adamw: AdamWCheck;
  /** `--f16`: the matmul and MLP cases again with each f16 precision (an error instead without shader-f16). */
  f16?: Partial<Record<MatmulPrecision, MatmulCheck[]>> | { error: string };
}

const F16_PRECISIONS: MatmulPrecision[] = ['f16-storage', 'f16-accumulate'];

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

const lnInputs = (s: { rows: number; C: number; x: Float32Array; w: Float32Array }) => [
  { data: s.x, shape: [s.rows, s.C] },
  { data: s.w, shape: [s.C] },
];

/** The command line above; prints the result and ends the process (Dawn's threads keep it alive). */
export async function kernelCheckMain(argv: string[]): Promise<never> {
  const { values: opt } = parseArgs({
    args: argv,
    options: {
      // demo and nanogpt-cpu's (B·T, C), odd sizes across the 64-thread and 64-row boundaries.
      shapes: { type: 'string', default: '512x64,768x128,37x96,130x200' },
      // B×T×nh×hs: nanogpt-cpu and demo's, then T across the 64-row tiles and head sizes off powers of 2.
      attention: { type: 'string', default: '12x64x4x32,8x64x2x32,3x37x3x10,2x70x2x20' },
      // rows×V: nanogpt-cpu and demo's on TinyShakespeare, odd sizes, and a vocabulary past a thread per row.
      'cross-entropy': { type: 'string', default: '768x65,512x65,37x200,130x7,9x1500' },
      // rows×C: nanogpt-cpu and demo's MLP (B·T, 4C), and an odd size.
      gelu: { type: 'string', default: '768x512,512x256,37x13' },
      // M×K×N: nanogpt-cpu's c_attn and MLP projections, and sizes off the 32×32 tiles and off multiples of 4.
      matmul: { type: 'string', default: '768x128x384,768x512x128,37x13x70,100x65x9' },
      // rows×C×H: nanogpt-cpu's MLP (B·T, C, 4C), and an odd size.
      mlp: { type: 'string', default: '768x128x512,37x10x22' },
      iterations: { type: 'string', default: '5' },
      'adamw-preset': { type: 'string', default: 'nanogpt-cpu' }, // the model whose parameters AdamW updates
      reference: { type: 'string', default: 'wasm' }, // or webgpu: the stock ops on the same device (a carried bundle has no WASM)
      kernels: { type: 'string', default: 'tabgrid' }, // register.ts's fusedKernelsOf: tabgrid,-subgroups for workgroup memory alone
      f16: { type: 'boolean', default: false },
    },
  });
  const adapter = await useDawn({
    flags: (process.env.TABGRID_DAWN_FLAGS ?? '').split(',').filter(Boolean),
    featureLevel: (process.env.TABGRID_DAWN_FEATURE_LEVEL ?? 'core') as FeatureLevel,
  });
  registerFusedKernels(fusedKernelsOf(opt.kernels) ?? []);
  const shapes = opt.shapes.split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const rng = new Rng(5);
  const inputs = shapes.map(([rows, C]) => ({
    rows,
    C,
    x: data(rows * C, rng, 0.5),
    w: data(C, rng, 1),
    r: data(rows * C, rng),
  }));
  const iterations = Number(opt.iterations);
  const gpu = [];
  for (const s of inputs)
    gpu.push(await onGpu(layerNorm, layerNormReference, lnInputs(s), s.r, iterations));
  const attentionCases = opt.attention
    .split(',')
    .filter(Boolean)
    .map((shape) => attentionCase(shape, rng));
  const attentionGpu = [];
  for (const c of attentionCases) attentionGpu.push(await attentionOnGpu(c, iterations));
  const xentCases = opt['cross-entropy']
    .split(',')
    .filter(Boolean)
    .map((shape) => crossEntropyCase(shape, rng));
  const geluCases = opt.gelu
    .split(',')
    .filter(Boolean)
    .map((shape) => {
      const [rows, C] = shape.split('x').map(Number) as [number, number];
      return {
        rows,
        C,
        x: [{ data: data(rows * C, rng, 0, 2), shape: [rows, C] }],
        r: data(rows * C, rng),
      };
    });
  const geluGpu = [];
  for (const c of geluCases) geluGpu.push(await onGpu(gelu, geluStock, c.x, c.r, iterations));
  const xentGpu = [];
  for (const c of xentCases) xentGpu.push(await crossEntropyOnGpu(c, iterations));
  const matmulCases = [
    ...opt.matmul
      .split(',')
      .filter(Boolean)
      .map((shape) => matmulCase('matmul', shape, rng)),
    ...opt.mlp
      .split(',')
      .filter(Boolean)
      .map((shape) => matmulCase('mlp', shape, rng)),
  ];
  const matmulGpu = [];
  for (const c of matmulCases) matmulGpu.push(await matmulOnGpu(c, iterations));
  const f16Gpu: [MatmulPrecision, Awaited<ReturnType<typeof matmulOnGpu>>[]][] = [];
  let f16Error: string | null = null;
  for (const p of opt.f16 ? F16_PRECISIONS : []) {
    try {
      setMatmulPrecision(p);
    } catch (err) {
      f16Error = (err as Error).message;
      break;
    }
    const runs = [];
    for (const c of matmulCases) runs.push(await matmulOnGpu(c, iterations));
    f16Gpu.push([p, runs]);
  }
  setMatmulPrecision('f32');
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
    const e = await againstReference(layerNormReference, lnInputs(s), s.r, gpu[i]!);
    const [dx, dw] = e.grads as [number, number];
    layerNormChecks.push({
      rows: s.rows,
      C: s.C,
      value: e.value,
      dx,
      dw,
      stockMs: e.stockMs,
      tabgridMs: e.tabgridMs,
    });
  }
  const attention: AttentionCheck[] = [];
  for (const [i, c] of attentionCases.entries())
    attention.push(await attentionAgainstReference(c, attentionGpu[i]!));
  const geluChecks: GeluCheck[] = [];
  for (const [i, c] of geluCases.entries()) {
    const e = await againstReference(geluStock, c.x, c.r, geluGpu[i]!);
    geluChecks.push({
      rows: c.rows,
      C: c.C,
      value: e.value,
      dx: e.grads[0]!,
      stockMs: e.stockMs,
      tabgridMs: e.tabgridMs,
    });
  }
  const crossEntropy: CrossEntropyCheck[] = [];
  for (const [i, c] of xentCases.entries())
    crossEntropy.push(await crossEntropyAgainstReference(c, xentGpu[i]!));
  const matmul: MatmulCheck[] = [];
  for (const [i, c] of matmulCases.entries())
    matmul.push(await matmulAgainstReference(c, matmulGpu[i]!));
  const f16: KernelCheck['f16'] = f16Error ? { error: f16Error } : {};
  for (const [p, runs] of f16Gpu) {
    const checks: MatmulCheck[] = [];
    for (const [i, c] of matmulCases.entries())
      checks.push(await matmulAgainstReference(c, runs[i]!));
    (f16 as Record<MatmulPrecision, MatmulCheck[]>)[p] = checks;
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
    subgroups: subgroupsOn(),
    layerNorm: layerNormChecks,
    attention,
    crossEntropy,
    gelu: geluChecks,
    matmul,
    adamw,
    ...(opt.f16 ? { f16 } : {}),
  };
  console.log(JSON.stringify(result));
  process.exit(0);
}

// Run as a script, not when imported (nor inside a carried bundle, whose file has another name).
const thisFile = fileURLToPath(import.meta.url);
if (thisFile.endsWith('kernel-check.ts') && process.argv[1] === thisFile)
  await kernelCheckMain(process.argv.slice(2));
