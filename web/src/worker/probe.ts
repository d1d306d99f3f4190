// The backend probe: a few training steps of the demo preset's GPT on synthetic tokens, timed, on
// each candidate backend. A backend is used only if its losses match WASM's over those steps (a
// backend that computes wrongly would waste the volunteer's work on disputes); the fastest such
// backend trains. The first step compiles kernels and is not timed.
import * as tf from '@tensorflow/tfjs';
import { TAU_SPOT } from '../../../shared/commit.ts';
import { GPT } from '../../../shared/model/gpt.ts';
import { PRESETS } from '../../../shared/model/presets.ts';
import { Rng } from '../../../shared/rng.ts';
import { optimizerFor, sampleBatch, trainStep } from '../../../shared/train/loop.ts';

export interface Probe {
  msPerStep: number; // mean of the timed steps
  losses: number[];
}

const STEPS = 3;
const VOCAB = 65;

/** Trains STEPS steps on the current backend (tf.setBackend before) and returns their losses and pace. */
export async function probeBackend(): Promise<Probe> {
  const { model: m, train } = PRESETS.demo;
  const model = new GPT({ ...m, vocabSize: VOCAB }, 1);
  const opt = optimizerFor(model.params, train); // what training will use, fused on WebGPU
  const tokenRng = new Rng(7);
  const data = Uint8Array.from({ length: 8192 }, () => tokenRng.int(VOCAB));
  const batches = new Rng(11);
  const losses: number[] = [];
  let timed = 0;
  try {
    for (let i = 0; i < STEPS; i++) {
      const t0 = performance.now();
      const loss = trainStep(
        model,
        opt,
        sampleBatch(data, train.batchSize, m.blockSize, batches),
        train.lr,
        null,
      );
      losses.push((await loss.data())[0]!); // async read only (docs/backends.md)
      loss.dispose();
      if (i > 0) timed += performance.now() - t0;
    }
  } finally {
    opt.dispose();
    model.dispose();
  }
  return { msPerStep: timed / (STEPS - 1), losses };
}

/**
 * Whether a backend's probe computes what WASM's did. The same initial weights and batches: over
 * three steps float32 backends differ by ~1e-6 (calibration), far inside TAU_SPOT.
 */
export function agreesWith(reference: Probe, candidate: Probe): boolean {
  return (
    candidate.losses.length === reference.losses.length &&
    candidate.losses.every((x, i) => Math.abs(x - reference.losses[i]!) <= TAU_SPOT)
  );
}

/** What a WebGPU adapter says about itself (GPUAdapterInfo, plus isFallbackAdapter where it lives). */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * The adapter's info as a plain object. GPUAdapterInfo's fields are getters on its prototype (WebIDL
 * attributes), so `{ ...adapter.info }` copies none of them: read each one (measured on Dawn, whose
 * info spreads to `{ subgroupMatrixConfigs: [] }` only: docs/gpu.md).
 */
export function adapterInfoOf(adapter: {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
}): AdapterInfoLike {
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false,
  };
}

/** CPU rasterisers by the names they give: SwiftShader, Mesa's llvmpipe/lavapipe/softpipe, Windows' WARP. */
const SOFTWARE_NAMES =
  /swiftshader|llvmpipe|lavapipe|softpipe|\bsoftware\b|microsoft basic render|\bwarp\b/i;

/**
 * 'software': a CPU rasteriser, never probed for `auto` — it trains 5–70× slower than WASM on the
 * same cores (docs/gpu.md). 'unidentified': no vendor and no architecture, as Chromium's ANGLE-GLES
 * compatibility adapter over llvmpipe reports itself (with isFallbackAdapter false), so the
 * probe decides, with a margin (UNIDENTIFIED_MARGIN). 'hardware': anything else.
 */
export function adapterKind(a: AdapterInfoLike): 'software' | 'unidentified' | 'hardware' {
  if (a.isFallbackAdapter) return 'software';
  if (SOFTWARE_NAMES.test([a.vendor, a.architecture, a.device, a.description].join(' ')))
    return 'software';
  return a.vendor || a.architecture ? 'hardware' : 'unidentified';
}

/** A WebGL renderer string (UNMASKED_RENDERER_WEBGL) that names a CPU rasteriser. */
export function isSoftwareRenderer(renderer: string): boolean {
  return SOFTWARE_NAMES.test(renderer);
}

/**
 * An unidentified adapter wins only if its probe is this many times faster than WASM's: the fastest
 * software GPU measured (Dawn's GL ES over llvmpipe, nanogpt-cpu) was 5× slower than WASM on the same
 * two cores, so a CPU rasteriser that hides its name would need 7.5× more cores than WASM uses to pass.
 */
export const UNIDENTIFIED_MARGIN = 1.5;

/** Whether a candidate whose probe took `ms` may train instead of WASM (which took `wasmMs`). */
export function mayWin(kind: ReturnType<typeof adapterKind>, ms: number, wasmMs: number): boolean {
  if (kind === 'software') return false;
  return kind === 'unidentified' ? ms * UNIDENTIFIED_MARGIN <= wasmMs : ms < wasmMs;
}

/** The current backend's float precision: WebGL without float32 render targets trains in float16. */
export function precisionOf(backend: string): 'float32' | 'float16' {
  return backend === 'webgl' && !tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE')
    ? 'float16'
    : 'float32';
}
