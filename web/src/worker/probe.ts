// The backend probe: a few training steps of the demo preset's GPT on synthetic tokens, timed, on
// each candidate backend. A backend is used only if its losses match WASM's over those steps (a
// backend that computes wrongly would waste the volunteer's work on disputes); the fastest such
// backend trains. The first step compiles kernels and is not timed.
import * as tf from '@tensorflow/tfjs';
import { TAU_SPOT } from '../../../shared/commit.ts';
import { GPT } from '../../../shared/model/gpt.ts';
import { PRESETS } from '../../../shared/model/presets.ts';
import { Rng } from '../../../shared/rng.ts';
import { AdamW } from '../../../shared/train/adamw.ts';
import { sampleBatch, trainStep } from '../../../shared/train/loop.ts';

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
  const opt = new AdamW(model.params, train);
  const tokenRng = new Rng(7);
  const data = Uint8Array.from({ length: 8192 }, () => tokenRng.int(VOCAB));
  const batches = new Rng(11);
  const losses: number[] = [];
  let timed = 0;
  try {
    for (let i = 0; i < STEPS; i++) {
      const t0 = performance.now();
      const loss = trainStep(model, opt, sampleBatch(data, train.batchSize, m.blockSize, batches), train.lr, null);
      losses.push((await loss.data())[0]!); // async read only (PITFALLS)
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
  return candidate.losses.length === reference.losses.length && candidate.losses.every((x, i) => Math.abs(x - reference.losses[i]!) <= TAU_SPOT);
}

/** The current backend's float precision: WebGL without float32 render targets trains in float16. */
export function precisionOf(backend: string): 'float32' | 'float16' {
  return backend === 'webgl' && !tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE') ? 'float16' : 'float32';
}
