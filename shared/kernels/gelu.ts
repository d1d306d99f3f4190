// GPT-2's GELU (tanh approximation) as two elementwise WGSL kernels for TensorFlow.js's WebGPU backend,
// forward and gradient, with the stock formula's constants and order of operations (gpt.ts's `gelu`:
// five kernels forward, about nine backward); GELU_WGSL is also the epilogue of mlp.ts's fused matmuls.
import * as tf from '@tensorflow/tfjs';
import { elementwise, type WebGPUBackendLike } from './program.ts';

// 0.5·x·(1 + tanh z) with z = √(2/π)·(x + 0.044715·x³) is x·σ(2z) = x·σ(A·x + B·x³).
export const GELU_A = 2 * Math.sqrt(2 / Math.PI);
export const GELU_B = GELU_A * 0.044715;

// f32 literals of the scalars the stock ops get (tfjs makes each JavaScript number a float32 tensor).
const f32 = (x: number) => Math.fround(x).toPrecision(9);
const SIGMOID = `let s = 1.0 / (1.0 + exp(-(x * (${f32(GELU_A)} + ${f32(GELU_B)} * (x * x)))));`;
const DX = `let du = ${f32(GELU_A)} + ${f32(3 * GELU_B)} * (x * x);\n      return dy * (s + (x * (s * (1.0 - s))) * du);`;

/** WGSL `gelu(x)` and `geluGrad(x, dy)`, the kernels' formulas as functions for matmul.ts's epilogues. */
export const GELU_WGSL = `
  fn gelu(x : f32) -> f32 {
      ${SIGMOID}
      return x * s;
  }
  fn geluGrad(x : f32, dy : f32) -> f32 {
      ${SIGMOID}
      ${DX}
  }`;

const KERNELS = { forward: 'TabgridGelu', backward: 'TabgridGeluGrad' } as const;

/** Registers the two kernels with tfjs's webgpu backend (once; harmless where it is absent). */
export function registerGeluKernels(): void {
  const programs = {
    // y = x·σ(u)
    [KERNELS.forward]: (n: number) =>
      elementwise('gelu_fwd', ['X'], n, '', `      result[index] = gelu(X[index]);`, GELU_WGSL),
    // dx = dy·(σ + x·σ(1 − σ)·(A + 3B·x²))
    [KERNELS.backward]: (n: number) =>
      elementwise(
        'gelu_bwd',
        ['X', 'Dy'],
        n,
        '',
        `      result[index] = geluGrad(X[index], Dy[index]);`,
        GELU_WGSL,
      ),
  };
  for (const [kernelName, make] of Object.entries(programs)) {
    if (tf.getKernel(kernelName, 'webgpu')) continue;
    const kernelFunc = (args: { inputs: tf.NamedTensorInfoMap; backend: unknown }) => {
      const inputs = Object.values(args.inputs) as tf.TensorInfo[];
      return (args.backend as WebGPUBackendLike).runWebGPUProgram(
        make(inputs[0]!.shape[0]!),
        inputs,
        'float32',
      );
    };
    tf.registerKernel({
      kernelName,
      backendName: 'webgpu',
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
    });
  }
}

/** Whether the fused GELU runs: WebGPU with the kernels registered. */
export function fusedGeluAvailable(): boolean {
  return tf.getBackend() === 'webgpu' && Boolean(tf.getKernel(KERNELS.forward, 'webgpu'));
}

const run = (name: string, inputs: Record<string, tf.Tensor>) =>
  tf.engine().runKernel(name, inputs) as tf.Tensor;

/** GELU on 1-D x through the fused kernels, with its gradient (σ recomputed from x). */
const fused1d = tf.customGrad(((x: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: run(KERNELS.forward, { x }),
    gradFunc: (dy: tf.Tensor1D, [sx]: tf.Tensor[]) => run(KERNELS.backward, { x: sx!, dy }),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/** GELU of any shape on the fused kernels (flattened: reshapes dispatch nothing). */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  return tf.reshape(fused1d(tf.reshape(x, [-1])), x.shape);
}
