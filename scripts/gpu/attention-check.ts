// The fused causal attention (shared/kernels/attention.ts) against the model's stock ops (gpt.ts's
// `attend`): inputs drawn once, run on WebGPU now and on the reference backend later; value, dq, dk
// and dv compared, forward + backward timed on the same device. Used by kernel-check.ts.
import * as tf from '@tensorflow/tfjs';
import { fusedAttention } from '../../shared/kernels/attention.ts';
import { attend, causalMask } from '../../shared/model/gpt.ts';
import type { Rng } from '../../shared/rng.ts';
import { data, relMax, timeForwardBackward, valueAndGrads } from './op-check.ts';

export interface AttentionCheck {
  B: number;
  T: number;
  nh: number;
  hs: number;
  /** max |fused on WebGPU − stock on the reference| of y, dq, dk, dv, each over max(1, max |reference|). */
  value: number;
  dq: number;
  dk: number;
  dv: number;
  stockMs: number; // forward + backward, median over the iterations
  tabgridMs: number;
}

const stock = (nh: number) => (qkv: tf.Tensor) => attend(qkv, nh, causalMask(qkv.shape[1]!), null);
const fused = (nh: number) => (qkv: tf.Tensor) => fusedAttention(qkv, nh);

/** One case: B×T×nh×hs, parsed from "12x64x4x32". */
export function attentionCase(shape: string, rng: Rng) {
  const [B, T, nh, hs] = shape.split('x').map(Number) as [number, number, number, number];
  const n = B * T * 3 * nh * hs;
  // Values of std 1.2 give scores of std ~1.4 after the 1/√hs scale: softmaxes with clear maxima.
  return { B, T, nh, hs, qkv: data(n, rng, 0, 1.2), r: data(B * T * nh * hs, rng) };
}
type Case = ReturnType<typeof attentionCase>;

const run = (c: Case, op: (nh: number) => (qkv: tf.Tensor) => tf.Tensor) =>
  valueAndGrads(op(c.nh), [{ data: c.qkv, shape: [c.B, c.T, 3 * c.nh * c.hs] }], c.r);

/** The fused kernels on the current (WebGPU) backend: results, and both timings. */
export async function attentionOnGpu(c: Case, iterations: number) {
  const shape = [[c.B, c.T, 3 * c.nh * c.hs]];
  return {
    fused: await run(c, fused),
    stockMs: await timeForwardBackward(stock(c.nh), shape, iterations),
    tabgridMs: await timeForwardBackward(fused(c.nh), shape, iterations),
  };
}

/** Compares with the stock ops on the current (reference) backend. */
export async function attentionAgainstReference(
  c: Case,
  gpu: Awaited<ReturnType<typeof attentionOnGpu>>,
): Promise<AttentionCheck> {
  const ref = await run(c, stock);
  const C = c.nh * c.hs;
  // dqkv (B·T, 3C): part j is columns [jC, (j + 1)C) of every row.
  const part = (g: Float32Array, j: number) =>
    Float32Array.from(
      { length: c.B * c.T * C },
      (_, i) => g[Math.floor(i / C) * 3 * C + j * C + (i % C)]!,
    );
  const [fg, rg] = [gpu.fused.grads[0]!, ref.grads[0]!];
  return {
    B: c.B,
    T: c.T,
    nh: c.nh,
    hs: c.hs,
    value: relMax(gpu.fused.value, ref.value),
    dq: relMax(part(fg, 0), part(rg, 0)),
    dk: relMax(part(fg, 1), part(rg, 1)),
    dv: relMax(part(fg, 2), part(rg, 2)),
    stockMs: gpu.stockMs,
    tabgridMs: gpu.tabgridMs,
  };
}
