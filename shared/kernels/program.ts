// The shape of a WGSL program that tfjs-backend-webgpu's runWebGPUProgram takes (its WebGPUProgram,
// not exported by the package): it declares the inputs as read-only storage arrays named by
// variableNames, `result` as the output, `uniforms` (with each input's shape, e.g. uniforms.xShape)
// and calls main(index). Shared by the fused kernels of this folder.
import type * as tf from '@tensorflow/tfjs';
import { subgroupsOn } from './features.ts';

export interface Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size?: boolean;
  uniforms?: string;
  variableComponents?: number[]; // per input: 4 declares it array<vec4<f32>>
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

/**
 * WGSL that reduces `v` (sum or max) over a workgroup of `wg` threads (a power of 2) into `var name`,
 * through `var<workgroup> red : array<f32, wg>` (reductionDeclarations) and `tid`; uniform control
 * flow only. The barrier comes before red[] is written, not after the total is read: on Dawn's OpenGL
 * ES backend (Mesa 22.3) a barrier after `var total = red[0]` did not keep the next reduction's writes
 * from reaching red[0] first, and LayerNorm's statistics came out wrong (docs/gpu.md).
 *
 * With subgroups on (features.ts), each subgroup reduces its own values first, and 2 barriers replace
 * log2(wg) + 2. WGSL does not say which threads form a subgroup nor that all of its lanes are active,
 * so nothing assumes a size or a layout: one thread per subgroup (rank 0 among its active threads)
 * writes the subgroup's total at its own slot, the other threads 0 at theirs (a max: every thread its total);
 * then every subgroup reads all wg slots, its active threads striding by their count, and reduces
 * them again. Correct for any subgroup size an adapter reports (4 to 128), partial subgroups included
 * (measured: lavapipe's 8, SwiftShader's 4; docs/gpu.md).
 */
export function workgroupReduce(name: string, v: string, op: 'sum' | 'max', wg: number): string {
  if (!subgroupsOn())
    return `
    workgroupBarrier();
    red[tid] = ${v};
    workgroupBarrier();
    for (var k = ${wg / 2}; k > 0; k = k >> 1) {
      if (tid < k) { red[tid] = ${op === 'sum' ? 'red[tid] + red[tid + k]' : 'max(red[tid], red[tid + k])'}; }
      workgroupBarrier();
    }
    var ${name} = red[0];`;
  const [reduce, combine] =
    op === 'sum'
      ? ['subgroupAdd', (a: string, b: string) => `${a} + ${b}`]
      : ['subgroupMax', (a: string, b: string) => `max(${a}, ${b})`];
  const [lane, lanes, part] = [`${name}Lane`, `${name}Lanes`, `${name}Part`];
  return `
    let ${lane} = i32(subgroupExclusiveAdd(1u));
    let ${lanes} = i32(subgroupAdd(1u));
    let ${name}Own = ${reduce}(${v});
    workgroupBarrier();
    red[tid] = ${op === 'sum' ? `select(0.0, ${name}Own, ${lane} == 0)` : `${name}Own`};
    workgroupBarrier();
    var ${part} = red[${lane}];
    for (var j = ${lane} + ${lanes}; j < ${wg}; j += ${lanes}) { ${part} = ${combine(part, 'red[j]')}; }
    var ${name} = ${reduce}(${part});`;
}

/**
 * The module-scope WGSL workgroupReduce needs (the subgroups extension where on, `red`), and the
 * suffix that tells its variant apart in a shaderKey (tfjs caches a pipeline by its key).
 */
export function reductionDeclarations(wg: number): { code: string; key: string } {
  const sg = subgroupsOn();
  return {
    code: `${sg ? '  enable subgroups;\n' : ''}  var<workgroup> red : array<f32, ${wg}>;`,
    key: sg ? '_sg' : '',
  };
}

/**
 * A program of `workgroups` workgroups of `wg` threads (dispatched along x): `main`'s body gets `tid`,
 * the thread's index in its workgroup, and `red`, the workgroup array workgroupReduce uses.
 */
export function workgroupProgram(
  key: string,
  variableNames: string[],
  outputShape: number[],
  workgroups: number,
  wg: number,
  body: string,
  uniforms?: string,
): Program {
  const reduction = reductionDeclarations(wg);
  return {
    variableNames,
    outputShape,
    shaderKey: `tabgrid_${key}${reduction.key}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [workgroups, 1, 1],
    workgroupSize: [wg, 1, 1],
    ...(uniforms ? { uniforms } : {}),
    getUserCode: () => `
${reduction.code}
  fn main(index : i32) {
    let tid = i32(localId.x);
${body}
  }`,
  };
}

/** An elementwise program over N values, 64 threads a workgroup (inputs flattened to 1-D); `functions`: WGSL it calls. */
export function elementwise(
  key: string,
  variableNames: string[],
  n: number,
  uniforms: string,
  body: string,
  functions = '',
): Program {
  return {
    variableNames,
    outputShape: [n],
    shaderKey: `tabgrid_${key}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(n / 64), 1, 1],
    workgroupSize: [64, 1, 1],
    size: true,
    uniforms,
    getUserCode: () => `${functions}
  fn main(index : i32) {
    if (index < uniforms.size) {
${body}
    }
  }`,
  };
}
