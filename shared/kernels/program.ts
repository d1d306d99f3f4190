// The shape of a WGSL program that tfjs-backend-webgpu's runWebGPUProgram takes (its WebGPUProgram,
// not exported by the package): it declares the inputs as read-only storage arrays named by
// variableNames, `result` as the output, `uniforms` (with each input's shape, e.g. uniforms.xShape)
// and calls main(index). Shared by the fused kernels of this folder.
import type * as tf from '@tensorflow/tfjs';

export interface Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size?: boolean;
  uniforms?: string;
  getUserCode(): string;
}

export type Uniform = { type: 'float32' | 'int32'; data: number[] };

/** The part of the WebGPU backend the kernels call. */
export interface WebGPUBackendLike {
  runWebGPUProgram(
    program: Program,
    inputs: tf.TensorInfo[],
    dtype: 'float32',
    uniforms?: Uniform[],
  ): tf.TensorInfo;
}
