// The measurement behind `npm run bench:gpu` and its carried bundle: per preset, the first steps on
// Dawn's WebGPU (a child process on the chosen driver), optionally on WASM for the loss check, and
// PyTorch eager on the same GPU (scripts/gpu/pytorch-gpu.py) when torch sees CUDA; one report.
import { spawn, spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { PRESETS, type PresetName } from '../../shared/model/presets.ts';
import type { ExperimentSpec } from '../../shared/spec.ts';
import type { AdapterSummary } from './dawn.ts';
import { runOnDriver, type Driver } from './drivers.ts';
import type { KernelCheck } from './kernel-check.ts';
import type { StepProfile, StepsResult } from './steps.ts';

export interface Dataset {
  id: string;
  sha256: string;
  vocabSize: number;
  dir: string;
}

export interface PytorchSteps {
  device: string;
  version: string;
  msPerStep: number;
  tokensPerSec: number;
  losses: number[];
  stepMs: number[];
}

export interface PresetReport {
  steps: number;
  tokensPerStep: number;
  stockMsPerStep: number | null;
  stockTokensPerSec: number | null;
  /** With Tabgrid's fused kernels registered, when the step called any of them (its profile says); else null. */
  tabgridMsPerStep: number | null;
  tabgridNote?: string;
  /** Process CPU time per step (steps.ts's cpuMsPerStep): on a software adapter, steadier than wall time. */
  stockCpuMsPerStep?: number;
  tabgridCpuMsPerStep?: number;
  /** tfjs kernels per step with the fused kernels (stockProfile.kernels without). */
  tabgridKernelsPerStep?: number;
  pytorchMsPerStep: number | null;
  wasmMsPerStep?: number | null;
  /** max |Δloss| over the steps; against PyTorch only without dropout (its mask differs). */
  maxLossGapVsWasm?: number | null;
  maxLossGapVsPytorch?: number | null;
  maxLossGapStockVsTabgrid?: number;
  /** One more stock step under tf.profile: kernels per step and where the GPU time goes. */
  stockProfile?: StepProfile;
  error?: string;
}

export interface BenchReport {
  adapter: string | null;
  adapterInfo: AdapterSummary | null;
  driver: string | null;
  dataset: string;
  preset: string;
  presets: Record<string, PresetReport>;
  speedupVsStock: number | null;
  ratioVsPytorch: number | null;
  pytorch: { device: string; version: string } | null;
  pytorchNote?: string;
  /** Tabgrid's fused kernels alone at the presets' shapes: error against the stock formula, ms fwd+bwd. */
  kernels:
    | Pick<
        KernelCheck,
        | 'reference'
        | 'subgroups'
        | 'layerNorm'
        | 'attention'
        | 'crossEntropy'
        | 'gelu'
        | 'matmul'
        | 'adamw'
        | 'f16'
      >
    | { error: string }
    | null;
  loadAverage: number[];
}

export interface BenchOptions {
  presets: string[];
  preset: string; // the one the ratios are of
  steps: number;
  warmup: number;
  seed: number;
  data: Dataset;
  driver: Driver | null; // null: the environment as it is (a carried run's run.sh set it)
  child: string[]; // the command that runs steps.ts's stepsMain, after `node`
  kernelCheck: string[] | null; // the command that runs kernel-check.ts's kernelCheckMain; null: skip
  pytorchScript: string;
  python: string | null;
  pytorchDevice: string | null; // 'cuda' where torch sees CUDA; null: no PyTorch column
  pytorchNote?: string;
  wasm: boolean;
  profile: number; // steps profiled after the timed ones (at least 1: the Tabgrid column needs it)
  f16?: boolean; // the kernel check also runs the matmul and MLP in f16 (kernel-check.ts --f16)
  log: (line: string) => void;
}

/** The preset's spec with the full schedule, of which the bench runs only the first steps. */
export function specFor(preset: string, data: Dataset, seed: number): ExperimentSpec {
  const p = PRESETS[preset as PresetName];
  if (!p) throw new Error(`unknown preset ${preset}; one of ${Object.keys(PRESETS).join(', ')}`);
  return {
    template: 'gpt-char',
    dataset: { id: data.id, sha256: data.sha256 },
    model: { ...p.model, vocabSize: data.vocabSize },
    train: p.train,
    seed,
    evalWindows: 16,
  };
}

/** Whether this python's torch sees a CUDA device: the issue's own check. */
export function torchDevice(python: string | null): { device: string | null; note?: string } {
  if (!python) return { device: null, note: 'no python3' };
  const r = spawnSync(python, ['-c', 'import torch; print(torch.cuda.is_available())'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return { device: null, note: 'PyTorch is not importable' };
  return r.stdout.trim() === 'True'
    ? { device: 'cuda' }
    : { device: null, note: 'torch.cuda.is_available() is False' };
}

async function runPython(o: BenchOptions, spec: ExperimentSpec): Promise<PytorchSteps> {
  const args = [
    o.pytorchScript,
    '--data',
    o.data.dir,
    '--spec',
    JSON.stringify(spec),
    '--steps',
    String(o.steps),
    '--warmup',
    String(o.warmup),
    '--device',
    o.pytorchDevice!,
  ];
  const child = spawn(o.python!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  for (const line of err.trim().split('\n').filter(Boolean).slice(-3)) o.log(line);
  if (code !== 0) throw new Error(`pytorch-gpu.py exited ${code}: ${err.trim().slice(-400)}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as PytorchSteps;
}

/** max |a − b| over the steps both have. */
export const gap = (a: number[], b: number[]) =>
  Math.max(0, ...a.slice(0, b.length).map((x, i) => Math.abs(x - b[i]!)));

/** The child command line (o.child, then steps.ts's options) that trains `spec`'s first steps on `backend`. */
export function stepsCommand(
  o: Pick<BenchOptions, 'child' | 'data' | 'steps' | 'warmup' | 'profile'>,
  spec: ExperimentSpec,
  backend: string,
  kernels = 'stock',
  extra: string[] = [],
): string[] {
  return [
    ...o.child,
    '--spec',
    JSON.stringify(spec),
    '--data',
    o.data.dir,
    '--steps',
    String(o.steps),
    '--warmup',
    String(o.warmup),
    '--backend',
    backend,
    '--profile',
    backend === 'webgpu' ? String(Math.max(1, o.profile)) : '0',
    '--kernels',
    kernels,
    ...extra,
  ];
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const presets: Record<string, PresetReport> = {};
  let adapterInfo: AdapterSummary | null = null;
  let pytorch: BenchReport['pytorch'] = null;
  let pytorchNote = o.pytorchNote;
  for (const name of o.presets) {
    const spec = specFor(name, o.data, o.seed);
    const tokensPerStep = spec.train.batchSize * spec.model.blockSize;
    const r: PresetReport = {
      steps: o.steps,
      tokensPerStep,
      stockMsPerStep: null,
      stockTokensPerSec: null,
      tabgridMsPerStep: null,
      pytorchMsPerStep: null,
    };
    presets[name] = r;
    const stepArgs = (backend: string, kernels = 'stock') =>
      stepsCommand(o, spec, backend, kernels);
    const [cmd, ...rest] = stepArgs('webgpu');
    o.log(`${name}: ${o.steps} steps on WebGPU (${o.driver?.name ?? 'environment'})`);
    let gpu: StepsResult | null = null;
    try {
      gpu = await runOnDriver<StepsResult>(o.driver, cmd!, rest, { log: o.log });
      adapterInfo ??= gpu.adapter;
      r.stockMsPerStep = gpu.msPerStep;
      r.stockCpuMsPerStep = gpu.cpuMsPerStep;
      r.stockTokensPerSec = gpu.tokensPerSec;
      if (gpu.profile) {
        r.stockProfile = gpu.profile;
        const top = gpu.profile.top
          .slice(0, 4)
          .map((k) => `${k.name} ${k.ms === null ? `${k.calls}×` : `${k.ms.toFixed(1)} ms`}`);
        o.log(
          `${name}: ${gpu.profile.kernels} tfjs kernels per step${gpu.profile.kernelMs === null ? '' : `, ${gpu.profile.kernelMs.toFixed(1)} ms of GPU time`}: ${top.join(', ')}`,
        );
      }
    } catch (err) {
      r.error = (err as Error).message;
      o.log(`${name}: WebGPU failed: ${r.error}`);
    }
    if (gpu) {
      // The same steps with shared/kernels/ registered: a column only if the step used them.
      const [c, ...a] = stepArgs('webgpu', 'tabgrid');
      try {
        const fused = await runOnDriver<StepsResult>(o.driver, c!, a, { log: () => {} });
        if (fused.profile?.tabgridKernels) {
          r.tabgridMsPerStep = fused.msPerStep;
          r.tabgridCpuMsPerStep = fused.cpuMsPerStep;
          r.tabgridKernelsPerStep = fused.profile.kernels;
          r.maxLossGapStockVsTabgrid = gap(fused.losses, gpu.losses);
        } else r.tabgridNote = 'the model calls none of the fused kernels yet (docs/gpu.md)';
      } catch (err) {
        r.tabgridNote = (err as Error).message;
      }
    }
    if (o.wasm) {
      const [c, ...a] = stepArgs('wasm');
      try {
        const wasm = await runOnDriver<StepsResult>(null, c!, a, { log: () => {} });
        r.wasmMsPerStep = wasm.msPerStep;
        r.maxLossGapVsWasm = gpu ? gap(gpu.losses, wasm.losses) : null;
      } catch (err) {
        o.log(`${name}: WASM failed: ${(err as Error).message}`);
      }
    }
    if (o.pytorchDevice && o.python) {
      try {
        const py = await runPython(o, spec);
        pytorch = { device: py.device, version: py.version };
        r.pytorchMsPerStep = py.msPerStep;
        r.maxLossGapVsPytorch = gpu && spec.model.dropout === 0 ? gap(gpu.losses, py.losses) : null;
      } catch (err) {
        pytorchNote = (err as Error).message;
        o.log(`${name}: PyTorch failed: ${pytorchNote}`);
      }
    }
    o.log(
      `${name}: WebGPU ${fmt(r.stockMsPerStep)} ms/step, WASM ${fmt(r.wasmMsPerStep)}, PyTorch ${fmt(r.pytorchMsPerStep)}; loss gap vs WASM ${r.maxLossGapVsWasm ?? '-'}, vs PyTorch ${r.maxLossGapVsPytorch ?? '-'}`,
    );
  }
  let kernels: BenchReport['kernels'] = null;
  if (o.kernelCheck) {
    const specs = o.presets.map((name) => specFor(name, o.data, o.seed));
    const shapes = specs.map((s) => `${s.train.batchSize * s.model.blockSize}x${s.model.nEmbd}`);
    const gelu = specs.map((s) => `${s.train.batchSize * s.model.blockSize}x${4 * s.model.nEmbd}`);
    const xent = specs.map((s) => `${s.train.batchSize * s.model.blockSize}x${s.model.vocabSize}`);
    // The model's matmuls (M×K×N): c_attn, c_proj, the MLP's two, the embedding and the tied head; its MLP (rows×C×4C).
    const matmul = specs.flatMap((s) => {
      const [M, C, V] = [s.train.batchSize * s.model.blockSize, s.model.nEmbd, s.model.vocabSize];
      return [
        [C, 3 * C],
        [C, C],
        [C, 4 * C],
        [4 * C, C],
        [V, C],
        [C, V],
      ].map(([K, N]) => `${M}x${K}x${N}`);
    });
    const mlp = specs.map(
      (s) => `${s.train.batchSize * s.model.blockSize}x${s.model.nEmbd}x${4 * s.model.nEmbd}`,
    );
    const attention = specs.map(
      (s) =>
        `${s.train.batchSize}x${s.model.blockSize}x${s.model.nHead}x${s.model.nEmbd / s.model.nHead}`,
    );
    const [cmd, ...rest] = [
      ...o.kernelCheck,
      '--shapes',
      shapes.join(','),
      '--attention',
      attention.join(','),
      '--cross-entropy',
      xent.join(','),
      '--gelu',
      gelu.join(','),
      '--matmul',
      matmul.join(','),
      '--mlp',
      mlp.join(','),
      '--reference',
      o.wasm ? 'wasm' : 'webgpu',
      '--adamw-preset',
      o.preset,
      ...(o.f16 ? ['--f16'] : []),
    ];
    o.log(
      `kernels: fused LayerNorm at ${shapes.join(', ')}, attention at ${attention.join(', ')}, cross-entropy at ${xent.join(', ')}, GELU at ${gelu.join(', ')}, matmul at ${matmul.join(', ')}, MLP at ${mlp.join(', ')}, AdamW on ${o.preset}'s parameters`,
    );
    try {
      const k = await runOnDriver<KernelCheck>(o.driver, cmd!, rest, { log: o.log });
      kernels = {
        reference: k.reference,
        subgroups: k.subgroups,
        layerNorm: k.layerNorm,
        attention: k.attention,
        crossEntropy: k.crossEntropy,
        gelu: k.gelu,
        matmul: k.matmul,
        adamw: k.adamw,
        ...(k.f16 ? { f16: k.f16 } : {}),
      };
      const a = k.adamw;
      o.log(
        `AdamW on ${a.preset}: stock ${a.stockMs.toFixed(2)} ms, fused ${a.tabgridMs.toFixed(2)} ms per update; max error after ${a.updates} updates: weights ${a.weights.toExponential(1)}, m ${a.m.toExponential(1)}, v ${a.v.toExponential(1)}`,
      );
      for (const c of k.layerNorm)
        o.log(
          `LayerNorm ${c.rows}×${c.C}: stock ${c.stockMs.toFixed(2)} ms, fused ${c.tabgridMs.toFixed(2)} ms fwd+bwd; max rel. error value ${c.value.toExponential(1)}, dx ${c.dx.toExponential(1)}, dw ${c.dw.toExponential(1)}`,
        );
      for (const c of k.gelu)
        o.log(
          `GELU ${c.rows}×${c.C}: stock ${c.stockMs.toFixed(2)} ms, fused ${c.tabgridMs.toFixed(2)} ms fwd+bwd; max rel. error value ${c.value.toExponential(1)}, dx ${c.dx.toExponential(1)}`,
        );
      for (const c of k.matmul)
        o.log(
          `${c.op} ${c.shape}: stock ${c.stockMs.toFixed(2)} ms, fused ${c.tabgridMs.toFixed(2)} ms fwd+bwd; max rel. error value ${c.value.toExponential(1)}, gradients ${c.grads.map((g) => g.toExponential(1)).join(', ')}`,
        );
      for (const c of k.crossEntropy)
        o.log(
          `cross-entropy ${c.rows}×${c.V}: stock ${c.stockMs.toFixed(2)} ms, fused ${c.tabgridMs.toFixed(2)} ms fwd+bwd; max rel. error value ${c.value.toExponential(1)}, dx ${c.dx.toExponential(1)}`,
        );
      for (const c of k.attention)
        o.log(
          `attention ${c.B}×${c.T}×${c.nh}×${c.hs}: stock ${c.stockMs.toFixed(2)} ms, fused ${c.tabgridMs.toFixed(2)} ms fwd+bwd; max rel. error value ${c.value.toExponential(1)}, dq ${c.dq.toExponential(1)}, dk ${c.dk.toExponential(1)}, dv ${c.dv.toExponential(1)}`,
        );
    } catch (err) {
      kernels = { error: (err as Error).message };
    }
  }
  const main = presets[o.preset];
  const best = main?.tabgridMsPerStep ?? main?.stockMsPerStep ?? null;
  const a = adapterInfo;
  return {
    adapter: a
      ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || a.device
      : null,
    adapterInfo: a,
    driver: o.driver?.name ?? 'environment',
    dataset: o.data.id,
    preset: o.preset,
    presets,
    // tok/s of Tabgrid's kernels over stock's; of the best WebGPU column over PyTorch's (≥ 0.5 is the target).
    speedupVsStock:
      main?.tabgridMsPerStep && main.stockMsPerStep
        ? main.stockMsPerStep / main.tabgridMsPerStep
        : null,
    ratioVsPytorch: best && main?.pytorchMsPerStep ? main.pytorchMsPerStep / best : null,
    pytorch,
    ...(pytorchNote && !pytorch ? { pytorchNote } : {}),
    kernels,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

const fmt = (x: number | null | undefined) => (x == null ? '-' : x.toFixed(1));
