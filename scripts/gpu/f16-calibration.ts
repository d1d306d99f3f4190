// The f16 calibration behind `bench:gpu --f16` (and a carried `run.sh --f16`): trains a preset's first
// steps with every fused kernel, the tiled matmul in f32 and then in each f16 precision
// (shared/kernels/matmul.ts), and compares each run's losses with a float32 reference step by step
// against the verification tolerances. f16 may be turned on only where the gap is within TAU_CURVE
// and the adapter is a hardware GPU: a CPU rasteriser's f16 says nothing about a GPU's (docs/gpu.md).
import { TAU_SPOT } from '../../shared/commit.ts';
import type { MatmulPrecision } from '../../shared/kernels/matmul.ts';
import { TAU_CURVE } from '../../shared/verify.ts';
import { adapterKind } from '../../web/src/worker/probe.ts';
import { gap, specFor, stepsCommand, type BenchOptions } from './bench-core.ts';
import { runOnDriver } from './drivers.ts';
import type { StepsResult } from './steps.ts';

export interface F16Run {
  maxLossGap: number; // max over the steps of |loss − the reference's|
  msPerStep: number;
  withinTauCurve: boolean;
}

export interface F16Calibration {
  preset: string;
  steps: number;
  reference: 'wasm' | 'webgpu-f32'; // whose losses the gaps are to (a carried bundle has no WASM)
  tauCurve: number; // shared/verify.ts: max |Δ| of the segment-mean training loss two results may have
  tauSpot: number; // shared/commit.ts: the spot check's bound
  adapterKind: string | null; // web/src/worker/probe.ts's: only 'hardware' can answer the question
  f32: F16Run | { error: string }; // the honest gap: the fused kernels in f32
  variants: Partial<Record<MatmulPrecision, F16Run | { error: string }>>;
  /** The f16 precision that may be turned on (within TAU_CURVE on a hardware GPU), else null. */
  mayEnable: MatmulPrecision | null;
}

const VARIANTS: MatmulPrecision[] = ['f16-storage', 'f16-accumulate'];

export async function runF16Calibration(
  o: Pick<BenchOptions, 'child' | 'data' | 'steps' | 'warmup' | 'seed' | 'driver' | 'wasm' | 'log'>,
  preset: string,
): Promise<F16Calibration> {
  const spec = specFor(preset, o.data, o.seed);
  const run = (backend: string, extra: string[] = []) => {
    const [cmd, ...args] = stepsCommand({ ...o, profile: 0 }, spec, backend, 'tabgrid', extra);
    return runOnDriver<StepsResult>(backend === 'wasm' ? null : o.driver, cmd!, args, {
      log: () => {},
    });
  };
  o.log(`f16: ${preset}, ${o.steps} steps in f32 and ${VARIANTS.join(', ')}`);
  const f32 = await run('webgpu').catch((err: Error) => ({ error: err.message }));
  const wasm = o.wasm ? await run('wasm').catch(() => null) : null;
  const reference = wasm ?? ('error' in f32 ? null : f32);
  const summary = (r: StepsResult | { error: string }): F16Run | { error: string } => {
    if ('error' in r) return r;
    if (!reference) return { error: 'no float32 reference run' };
    const maxLossGap = gap(r.losses, reference.losses);
    return { maxLossGap, msPerStep: r.msPerStep, withinTauCurve: maxLossGap <= TAU_CURVE };
  };
  const variants: F16Calibration['variants'] = {};
  for (const p of VARIANTS) {
    const r = await run('webgpu', ['--matmul-precision', p]).catch((err: Error) => ({
      error: err.message.slice(-300),
    }));
    variants[p] = summary(r);
    o.log(`f16: ${p} ${JSON.stringify(variants[p])}`);
  }
  const adapter = 'error' in f32 ? null : f32.adapter;
  const kind = adapter ? adapterKind(adapter) : null;
  const ok = (p: MatmulPrecision) => {
    const v = variants[p];
    return Boolean(v && 'withinTauCurve' in v && v.withinTauCurve && kind === 'hardware');
  };
  return {
    preset,
    steps: o.steps,
    reference: wasm ? 'wasm' : 'webgpu-f32',
    tauCurve: TAU_CURVE,
    tauSpot: TAU_SPOT,
    adapterKind: kind,
    f32: summary(f32),
    variants,
    mayEnable: VARIANTS.find(ok) ?? null,
  };
}
