// The fused softmax cross-entropy (shared/kernels/cross-entropy.ts) against the model's stock ops
// (gpt.ts's `crossEntropy`): inputs drawn once, run on WebGPU now and on the reference backend later;
// losses and the gradient wrt the logits compared, forward + backward timed on the same device.
import * as tf from '@tensorflow/tfjs';
import { fusedCrossEntropy } from '../../shared/kernels/cross-entropy.ts';
import { crossEntropy } from '../../shared/model/gpt.ts';
import type { Rng } from '../../shared/rng.ts';
import { data, relMax, timeForwardBackward, valueAndGrads } from './op-check.ts';

export interface CrossEntropyCheck {
  rows: number;
  V: number;
  /** max |fused on WebGPU − stock on the reference| of the losses and dlogits, each over max(1, max |reference|). */
  value: number;
  dx: number;
  stockMs: number; // forward + backward, median over the iterations
  tabgridMs: number;
}

type Loss = (logits: tf.Tensor, targets: tf.Tensor) => tf.Tensor;

/** One case: rows×V, parsed from "768x65"; logits of std 3 (a peaked softmax), targets uniform. */
export function crossEntropyCase(shape: string, rng: Rng) {
  const [rows, V] = shape.split('x').map(Number) as [number, number];
  const targets = Int32Array.from({ length: rows }, () => rng.int(V));
  return { rows, V, logits: data(rows * V, rng, 0, 3), targets, r: data(rows, rng) };
}
type Case = ReturnType<typeof crossEntropyCase>;

const withTargets = (f: Loss, targets: Int32Array) => (x: tf.Tensor) =>
  f(x, tf.tensor1d(targets, 'int32'));
const run = (c: Case, f: Loss) =>
  valueAndGrads(withTargets(f, c.targets), [{ data: c.logits, shape: [c.rows, c.V] }], c.r);

/** The fused kernels on the current (WebGPU) backend: results, and both timings. */
export async function crossEntropyOnGpu(c: Case, iterations: number) {
  const shape = [[c.rows, c.V]];
  return {
    fused: await run(c, fusedCrossEntropy),
    stockMs: await timeForwardBackward(withTargets(crossEntropy, c.targets), shape, iterations),
    tabgridMs: await timeForwardBackward(
      withTargets(fusedCrossEntropy, c.targets),
      shape,
      iterations,
    ),
  };
}

/** Compares with the stock ops on the current (reference) backend. */
export async function crossEntropyAgainstReference(
  c: Case,
  gpu: Awaited<ReturnType<typeof crossEntropyOnGpu>>,
): Promise<CrossEntropyCheck> {
  const ref = await run(c, crossEntropy);
  return {
    rows: c.rows,
    V: c.V,
    value: relMax(gpu.fused.value, ref.value),
    dx: relMax(gpu.fused.grads[0]!, ref.grads[0]!),
    stockMs: gpu.stockMs,
    tabgridMs: gpu.tabgridMs,
  };
}
