// Value, gradients and time of one op on the current TensorFlow.js backend, and the error measure
// between two runs of it: what kernel-check.ts compares between a fused kernel on WebGPU and the
// stock ops on WASM.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../shared/rng.ts';
import { median } from './steps.ts';

export type Op = (...xs: tf.Tensor[]) => tf.Tensor;
export interface Input {
  data: Float32Array;
  shape: number[];
}

/** max |a − b| over max(1, max |b|): b is the reference. */
export const relMax = (a: Float32Array, b: Float32Array) => {
  let d = 0;
  let m = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
};

export function data(n: number, rng: Rng, offset = 0, std = 1): Float32Array {
  return Float32Array.from({ length: n }, () => offset + std * rng.normal());
}

/** The value of `f` and the gradients of Σ f(xs)·r with respect to each input, as arrays. */
export async function valueAndGrads(f: Op, xs: Input[], r: Float32Array) {
  const [value, ...grads] = tf.tidy(() => {
    const ts = xs.map((x) => tf.tensor(x.data, x.shape));
    const value = f(...ts);
    const rt = tf.tensor(r, value.shape);
    const gs = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), rt)))(ts);
    return [value, ...gs];
  });
  const out = {
    value: (await value!.data()) as Float32Array,
    grads: await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array)),
  };
  tf.dispose([value!, ...grads]);
  return out;
}

/** ms for one forward + backward, the result read back (the whole queue done), median over `n`. */
export async function timeForwardBackward(f: Op, shapes: number[][], n: number): Promise<number> {
  const xs = shapes.map((s, i) => tf.randomNormal(s, 0.5, 1, 'float32', i + 1));
  const g = tf.grads((...a: tf.Tensor[]) => tf.sum(f(...a)));
  const ms: number[] = [];
  for (let i = 0; i <= n; i++) {
    const t0 = performance.now();
    const s = tf.tidy(() =>
      g(xs).reduce((acc: tf.Tensor, x) => tf.add(acc, tf.sum(x)), tf.scalar(0)),
    );
    await s.data();
    s.dispose();
    if (i > 0) ms.push(performance.now() - t0); // the first compiles the shaders
  }
  tf.dispose(xs);
  return median(ms);
}

/** `fused`'s value and gradients on the current (WebGPU) backend, and both ops' forward + backward times. */
export async function onGpu(
  fused: Op,
  stock: Op,
  xs: Input[],
  r: Float32Array,
  iterations: number,
) {
  const shapes = xs.map((x) => x.shape);
  return {
    fused: await valueAndGrads(fused, xs, r),
    stockMs: await timeForwardBackward(stock, shapes, iterations),
    tabgridMs: await timeForwardBackward(fused, shapes, iterations),
  };
}

/** The errors of onGpu's results against `stock` on the current (reference) backend: value, then each gradient. */
export async function againstReference(
  stock: Op,
  xs: Input[],
  r: Float32Array,
  gpu: Awaited<ReturnType<typeof onGpu>>,
) {
  const ref = await valueAndGrads(stock, xs, r);
  return {
    value: relMax(gpu.fused.value, ref.value),
    grads: gpu.fused.grads.map((g, i) => relMax(g, ref.grads[i]!)),
    stockMs: gpu.stockMs,
    tabgridMs: gpu.tabgridMs,
  };
}
