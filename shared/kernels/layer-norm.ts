// LayerNorm (no bias, eps 1e-5: the presets' nanoGPT LayerNorm) as fused WGSL kernels for
// TensorFlow.js's WebGPU backend, with its gradient: one dispatch forward and four backward, where the
// stock formula (tf.moments, sub, add, rsqrt, mul) is nine kernels forward plus their autodiff. Other
// backends get the stock formula. Numbers and how it was checked: docs/gpu.md.
import * as tf from '@tensorflow/tfjs';
import {
  workgroupProgram,
  workgroupReduce,
  type Program,
  type WebGPUBackendLike,
} from './program.ts';

export const LN_EPS = 1e-5;
const WG = 64; // threads per workgroup: one workgroup per row; C up to a few thousand
const CHUNK = 32; // rows summed by one thread of the weight gradient's partial sums

/** The stock-op LayerNorm the model has always used (shared/model/gpt.ts's formula). */
export function layerNormReference(x: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LN_EPS))), weight);
}

// ---------------------------------------------------------------------------------------------
// The WGSL programs (program.ts: the shape runWebGPUProgram takes).

/** WGSL that sums `v` over the workgroup into `var name` (program.ts's workgroupReduce). */
const wgSum = (name: string, v: string) => workgroupReduce(name, v, 'sum', WG);

/** `let mean`, `let rstd` of the row at `base` (two passes, as tf.moments: mean, then mean of squared differences). */
const rowStats = (base: string) => `
    var sx = 0.0;
    for (var c = tid; c < C; c += ${WG}) { sx += X[${base} + c]; }
    ${wgSum('sumX', 'sx')}
    let mean = sumX / f32(C);
    var sq = 0.0;
    for (var c = tid; c < C; c += ${WG}) { let d = X[${base} + c] - mean; sq += d * d; }
    ${wgSum('sumSq', 'sq')}
    let rstd = inverseSqrt(sumSq / f32(C) + uniforms.eps);`;

const program = (key: string, names: string[], shape: number[], workgroups: number, body: string) =>
  workgroupProgram(
    key,
    names,
    shape,
    workgroups,
    WG,
    `    let C = uniforms.xShape[1];\n${body}`,
    'eps : f32,',
  );

/** y = (x − mean)·rstd·w, a workgroup per row. */
const forward = (rows: number, C: number) =>
  program(
    'ln_fwd',
    ['X', 'W'],
    [rows, C],
    rows,
    `
    let base = (index / ${WG}) * C;
    ${rowStats('base')}
    for (var c = tid; c < C; c += ${WG}) { result[base + c] = (X[base + c] - mean) * rstd * W[c]; }`,
  );

/** Each row's mean and 1/sqrt(variance + eps): (rows, 2), a workgroup per row; read by both gradients. */
const stats = (rows: number, _C: number) =>
  program(
    'ln_stats',
    ['X'],
    [rows, 2],
    rows,
    `
    let row = index / ${WG};
    let base = row * C;
    ${rowStats('base')}
    if (tid == 0) {
      result[row * 2] = mean;
      result[row * 2 + 1] = rstd;
    }`,
  );

/** dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·w, a workgroup per row. */
const gradX = (rows: number, C: number) =>
  program(
    'ln_dx',
    ['X', 'W', 'Dy', 'S'],
    [rows, C],
    rows,
    `
    let row = index / ${WG};
    let base = row * C;
    let mean = S[row * 2];
    let rstd = S[row * 2 + 1];
    var a = 0.0;
    var b = 0.0;
    for (var c = tid; c < C; c += ${WG}) {
      let g = Dy[base + c] * W[c];
      a += g;
      b += g * (X[base + c] - mean) * rstd;
    }
    ${wgSum('sumA', 'a')}
    ${wgSum('sumB', 'b')}
    let ma = sumA / f32(C);
    let mb = sumB / f32(C);
    for (var c = tid; c < C; c += ${WG}) {
      let g = Dy[base + c] * W[c];
      result[base + c] = rstd * (g - ma - (X[base + c] - mean) * rstd * mb);
    }`,
  );

/**
 * Partial sums of dw = Σ_rows dy·x̂, CHUNK rows each: (chunks, C), a thread per (chunk, column) and
 * no barrier; a stock sum over the chunks finishes it.
 */
const gradWPartial = (rows: number, C: number) => {
  const chunks = Math.ceil(rows / CHUNK);
  return program(
    'ln_dw',
    ['X', 'Dy', 'S'],
    [chunks, C],
    Math.ceil((chunks * C) / WG),
    `
    let rows = uniforms.xShape[0];
    if (index >= uniforms.outShape[0] * C) { return; }
    let chunk = index / C;
    let c = index % C;
    var acc = 0.0;
    for (var r = chunk * ${CHUNK}; r < min(rows, (chunk + 1) * ${CHUNK}); r++) {
      acc += Dy[r * C + c] * (X[r * C + c] - S[r * 2]) * S[r * 2 + 1];
    }
    result[index] = acc;`,
  );
};

const KERNELS = {
  forward: 'TabgridLayerNorm',
  stats: 'TabgridLayerNormStats',
  gradX: 'TabgridLayerNormGradX',
  gradW: 'TabgridLayerNormGradWPartial',
} as const;
const MAX_ROWS = 65535; // one workgroup per row, in one dispatch dimension (WebGPU's default limit)

/** Registers the three kernels with tfjs's webgpu backend (once; harmless where it is absent). */
export function registerLayerNormKernels(): void {
  const eps = [{ type: 'float32' as const, data: [LN_EPS] }];
  const run =
    (make: (rows: number, C: number) => Program) =>
    (args: { inputs: tf.NamedTensorInfoMap; backend: unknown }) => {
      const inputs = Object.values(args.inputs) as tf.TensorInfo[];
      const [rows, C] = inputs[0]!.shape as [number, number];
      return (args.backend as WebGPUBackendLike).runWebGPUProgram(
        make(rows, C),
        inputs,
        'float32',
        eps,
      );
    };
  const kernels = [
    [KERNELS.forward, run(forward)],
    [KERNELS.stats, run(stats)],
    [KERNELS.gradX, run(gradX)],
    [KERNELS.gradW, run(gradWPartial)],
  ] as const;
  for (const [kernelName, kernelFunc] of kernels) {
    if (!tf.getKernel(kernelName, 'webgpu'))
      tf.registerKernel({
        kernelName,
        backendName: 'webgpu',
        kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      });
  }
}

const runKernel = (name: string, inputs: Record<string, tf.Tensor>) =>
  tf.engine().runKernel(name, inputs) as tf.Tensor;

/** The fused op on 2-D x (rows, C) and w (C), with its gradient. */
const fused2d = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: runKernel(KERNELS.forward, { x, w }),
    gradFunc: (dy: tf.Tensor2D, [sx, sw]: tf.Tensor[]) => {
      const s = runKernel(KERNELS.stats, { x: sx! });
      return [
        runKernel(KERNELS.gradX, { x: sx!, w: sw!, dy, s }),
        tf.sum(runKernel(KERNELS.gradW, { x: sx!, dy, s }), 0),
      ];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor, w: tf.Tensor) => tf.Tensor;

/**
 * LayerNorm over the last axis with weight `weight` (no bias): the fused kernels on WebGPU, the
 * stock-op formula elsewhere (and for more rows than one dispatch holds).
 */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  const C = x.shape[x.shape.length - 1]!;
  const rows = x.size / C;
  if (tf.getBackend() !== 'webgpu' || rows > MAX_ROWS || !tf.getKernel(KERNELS.forward, 'webgpu'))
    return layerNormReference(x, weight);
  return tf.reshape(fused2d(tf.reshape(x, [rows, C]), weight), x.shape);
}
