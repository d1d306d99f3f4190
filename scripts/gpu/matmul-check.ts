// The tiled matmul (shared/kernels/matmul.ts) and the fused MLP (shared/kernels/mlp.ts) against the
// model's stock ops (gpt.ts's `matmulStock`; `mlpStock`): inputs drawn once, run on WebGPU now and on
// the reference backend later; value and every gradient compared, forward + backward timed against
// the stock ops on the same device (tfjs's own matMul, reading operands transposed as the model does).
import type * as tf from '@tensorflow/tfjs';
import { fusedMatmul } from '../../shared/kernels/matmul.ts';
import { fusedMlp } from '../../shared/kernels/mlp.ts';
import { matmulStock, mlpStock } from '../../shared/model/gpt.ts';
import type { Rng } from '../../shared/rng.ts';
import { againstReference, data, onGpu, type Input, type Op } from './op-check.ts';

export interface MatmulCheck {
  op: 'matmul' | 'mlp';
  /** matmul: M×K×N; mlp: rows×C×H. */
  shape: string;
  /** max |fused on WebGPU − stock on the reference| over max(1, max |reference|): value, then each gradient. */
  value: number;
  grads: number[];
  stockMs: number; // forward + backward, median over the iterations
  tabgridMs: number;
}

const mlpFused: Op = (x, wFc, wProj) => fusedMlp(x!, wFc!, null, wProj!, null);
const mlpReference: Op = (x, wFc, wProj) => mlpStock(x!, wFc!, null, wProj!, null);

/** One case from "768x128x384" (matmul: M×K×N) or "768x128x512" (mlp: rows×C×H), weights of std 0.1. */
export function matmulCase(op: MatmulCheck['op'], shape: string, rng: Rng) {
  const [M, K, N] = shape.split('x').map(Number) as [number, number, number];
  const inputs: Input[] =
    op === 'matmul'
      ? [
          { data: data(M * K, rng), shape: [M, K] },
          { data: data(K * N, rng, 0, 0.1), shape: [K, N] },
        ]
      : [
          { data: data(M * K, rng), shape: [M, K] },
          { data: data(K * N, rng, 0, 0.1), shape: [K, N] },
          { data: data(N * K, rng, 0, 0.1), shape: [N, K] },
        ];
  return { op, shape, inputs, r: data(M * (op === 'matmul' ? N : K), rng) };
}
type Case = ReturnType<typeof matmulCase>;

const ops = (c: Case): [Op, Op] =>
  c.op === 'matmul'
    ? [fusedMatmul as Op, matmulStock as Op]
    : [mlpFused, mlpReference as (...xs: tf.Tensor[]) => tf.Tensor];

/** The fused op on the current (WebGPU) backend: results, and both timings. */
export const matmulOnGpu = (c: Case, iterations: number) =>
  onGpu(...ops(c), c.inputs, c.r, iterations);

/** Compares with the stock ops on the current (reference) backend. */
export async function matmulAgainstReference(
  c: Case,
  gpu: Awaited<ReturnType<typeof matmulOnGpu>>,
): Promise<MatmulCheck> {
  const e = await againstReference(ops(c)[1], c.inputs, c.r, gpu);
  return { op: c.op, shape: c.shape, ...e };
}
