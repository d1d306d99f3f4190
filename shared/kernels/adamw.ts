// shared/train/adamw.ts's AdamW (PyTorch's order: clip, decoupled decay, Adam step) as fused WGSL
// kernels for TensorFlow.js's WebGPU backend: per parameter one dispatch for partial sums of its
// squared norm and three for the update (m, v, then the weight), where the stock ops take 17 (counted
// from the code). The optimiser state has the same layout, so checkpoints move between the two.
// WebGPU only; docs/gpu.md has the numbers.
import * as tf from '@tensorflow/tfjs';
import type { Param } from '../model/gpt.ts';
import type { TrainConfig } from '../spec.ts';
import { AdamW } from '../train/adamw.ts';
import {
  elementwise,
  workgroupProgram,
  workgroupReduce,
  type Program,
  type WebGPUBackendLike,
} from './program.ts';

const WG = 64;

const PER_GROUP = 4096; // values one workgroup of the squared norm sums (64 per thread)

/**
 * Partial sums of g², one per workgroup of PER_GROUP values: (groups), summed by a stock sum with
 * every other parameter's (program.ts's workgroupReduce).
 */
function sumSquares(n: number): Program {
  const groups = Math.ceil(n / PER_GROUP);
  return workgroupProgram(
    'adamw_sumsq',
    ['G'],
    [groups],
    groups,
    WG,
    `
    let group = index / ${WG};
    let end = min(uniforms.gShape, (group + 1) * ${PER_GROUP});
    var s = 0.0;
    for (var i = group * ${PER_GROUP} + tid; i < end; i += ${WG}) { let g = G[i]; s += g * g; }
    ${workgroupReduce('total', 's', 'sum', WG)}
    if (tid == 0) { result[group] = total; }`,
  );
}

const KERNELS = {
  sumSquares: 'TabgridSumSquares',
  m: 'TabgridAdamWM',
  v: 'TabgridAdamWV',
  p: 'TabgridAdamWP',
} as const;

/** Registers the kernels with tfjs's webgpu backend (once). */
export function registerAdamWKernels(): void {
  const n = (inputs: tf.NamedTensorInfoMap) =>
    Object.values(inputs)[0]!.shape.reduce((a, b) => a * b, 1);
  const kernels: [string, (inputs: tf.NamedTensorInfoMap) => Program][] = [
    [KERNELS.sumSquares, (i) => sumSquares(n(i))],
    // m' = β1·m + (1 − β1)·g·s; 1 − β comes from JavaScript, as the stock ops get it (1 − 0.9 in f32 differs)
    [
      KERNELS.m,
      (i) =>
        elementwise(
          'adamw_m',
          ['M', 'G', 'S'],
          n(i),
          'beta : f32, rest : f32,',
          '      result[index] = uniforms.beta * M[index] + uniforms.rest * (G[index] * S[0]);',
        ),
    ],
    // v' = β2·v + (1 − β2)·(g·s)²
    [
      KERNELS.v,
      (i) =>
        elementwise(
          'adamw_v',
          ['V', 'G', 'S'],
          n(i),
          'beta : f32, rest : f32,',
          '      let g = G[index] * S[0];\n      result[index] = uniforms.beta * V[index] + uniforms.rest * (g * g);',
        ),
    ],
    // p' = p·decay − (lr / bc1)·m' / (sqrt(v' / bc2) + eps)
    [
      KERNELS.p,
      (i) =>
        elementwise(
          'adamw_p',
          ['P', 'M', 'V'],
          n(i),
          'decay : f32, step : f32, bc2 : f32, eps : f32,',
          '      result[index] = P[index] * uniforms.decay - uniforms.step * (M[index] / (sqrt(V[index] / uniforms.bc2) + uniforms.eps));',
        ),
    ],
  ];
  for (const [kernelName, make] of kernels) {
    if (tf.getKernel(kernelName, 'webgpu')) continue;
    const kernelFunc = (args: {
      inputs: tf.NamedTensorInfoMap;
      backend: unknown;
      attrs?: { uniforms?: number[] };
    }) =>
      (args.backend as WebGPUBackendLike).runWebGPUProgram(
        make(args.inputs),
        Object.values(args.inputs) as tf.TensorInfo[],
        'float32',
        (args.attrs?.uniforms ?? []).map((x) => ({ type: 'float32', data: [x] })),
      );
    tf.registerKernel({
      kernelName,
      backendName: 'webgpu',
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
    });
  }
}

const run = (name: string, inputs: Record<string, tf.Tensor>, uniforms: number[] = []) =>
  tf.engine().runKernel(name, inputs, { uniforms } as unknown as tf.NamedAttrMap) as tf.Tensor;

/** Whether the fused optimiser can run here: the WebGPU backend with the kernels registered. */
export function fusedAdamWAvailable(): boolean {
  return tf.getBackend() === 'webgpu' && Boolean(tf.getKernel(KERNELS.p, 'webgpu'));
}

/** shared/train/adamw.ts's AdamW with its update on the fused kernels: the same state, load and dispose. */
export class FusedAdamW extends AdamW {
  constructor(params: Param[], cfg: TrainConfig) {
    if (!fusedAdamWAvailable())
      throw new Error('FusedAdamW needs the webgpu backend and registerAdamWKernels()');
    super(params, cfg);
  }

  /** One update with learning rate `lr`, inside tf.tidy; `grads` in parameter order. */
  override apply(grads: tf.Tensor[], lr: number): void {
    const { beta1, beta2, eps, weightDecay, gradClip } = this.cfg;
    this.t += 1;
    const flat = grads.map((g) => tf.reshape(g, [-1]));
    // torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when the norm exceeds clip.
    const scale =
      gradClip > 0
        ? tf.reshape(
            tf.minimum(
              1,
              tf.div(
                gradClip,
                tf.add(
                  tf.sqrt(tf.sum(tf.concat(flat.map((g) => run(KERNELS.sumSquares, { g }))))),
                  1e-6,
                ),
              ),
            ),
            [1],
          )
        : tf.ones([1]);
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    this.params.forEach((p, i) => {
      const g = flat[i]!;
      const m = run(KERNELS.m, { m: tf.reshape(this.m[i]!, [-1]), g, s: scale }, [
        beta1,
        1 - beta1,
      ]);
      const v = run(KERNELS.v, { v: tf.reshape(this.v[i]!, [-1]), g, s: scale }, [
        beta2,
        1 - beta2,
      ]);
      const decay = p.decay && weightDecay > 0 ? 1 - lr * weightDecay : 1;
      const w = run(KERNELS.p, { p: tf.reshape(p.variable, [-1]), m, v }, [
        decay,
        lr / bc1,
        bc2,
        eps,
      ]);
      this.m[i]!.assign(tf.reshape(m, this.m[i]!.shape));
      this.v[i]!.assign(tf.reshape(v, this.v[i]!.shape));
      p.variable.assign(tf.reshape(w, p.variable.shape));
    });
  }
}
