// A tiled matmul in WGSL for TensorFlow.js's WebGPU backend: C (M, N) = op(A) · op(B), each operand
// read transposed in place where asked (so the backward's dy·Bᵀ and Aᵀ·dy need no Transpose), with
// optional epilogues (a bias, GPT-2's GELU keeping its pre-activation, or GELU's derivative) that
// mlp.ts fuses into the MLP's matmuls. Workgroup tiles of 32×32 outputs through workgroup memory,
// vec4 loads where the contiguous axis allows, a 4×4 register tile per thread (docs/gpu.md).
import * as tf from '@tensorflow/tfjs';
import { GELU_WGSL } from './gelu.ts';
import { deviceHas } from './features.ts';
import type { Program, WebGPUBackendLike } from './program.ts';

const TILE = 32; // outputs per workgroup along M and N, and the K slice per step
const WG = 64; // threads: (TILE/4)² of them, each a 4×4 register tile
const V4 = TILE / 4; // vec4s along a tile's row

/**
 * none: C. gelu: [GELU(C + bias); C + bias] stacked (2, M, N), the second half the pre-activation the
 * backward needs. geluGrad: C ⊙ GELU'(u), u read from the second half of input U (a gelu result).
 */
export type Epilogue = 'none' | 'gelu' | 'geluGrad';

export interface MatmulAttrs {
  transposeA: boolean; // A stored (K, M)
  transposeB: boolean; // B stored (N, K)
  epilogue: Epilogue;
  /** (M, N, K): the product's sizes, not the tensors' shapes: A may be a gelu result (2, M, K), read in its first half. */
  dims: [number, number, number];
}

/**
 * WGSL reading 4 contiguous values of operand X (rows×cols stored row-major) at (r, c), zeros outside.
 * Converted to f32: tfjs casts int32 to float32 without touching the buffer (its Cast kernel), so the
 * model's one-hot embeddings arrive as an array<i32> (without the conversion the shader did not compile
 * and the product came out zeros).
 */
function loader(x: string, vec4: boolean): string {
  const at = (j: number) => `select(0.0, f32(${x}[r * cols + c + ${j}]), c + ${j} < cols)`;
  return `
  fn load${x}(r : i32, c : i32, rows : i32, cols : i32) -> vec4<f32> {
    if (r >= rows || c >= cols) { return vec4<f32>(0.0); }
    ${vec4 ? `return vec4<f32>(${x}[(r * cols + c) / 4]);` : `return vec4<f32>(${[0, 1, 2, 3].map(at).join(', ')});`}
  }`;
}

/**
 * f32: everything in f32 (the default). With `shader-f16`, for calibration only (docs/gpu.md):
 * f16-storage rounds the operands to f16 in workgroup memory (what f16 weights and activations
 * would hold) and multiplies and sums in f32; f16-accumulate also multiplies and sums in f16.
 */
export const MATMUL_PRECISIONS = ['f32', 'f16-storage', 'f16-accumulate'] as const;
export type MatmulPrecision = (typeof MATMUL_PRECISIONS)[number];
let precision: MatmulPrecision = 'f32';

/** Sets the precision of every tiled matmul built from now on; f16 needs the device's `shader-f16`. */
export function setMatmulPrecision(p: MatmulPrecision): void {
  if (!MATMUL_PRECISIONS.includes(p)) throw new Error(`no matmul precision ${String(p)}`);
  if (p !== 'f32' && !deviceHas('shader-f16'))
    throw new Error(`matmul precision ${p} needs a WebGPU device with shader-f16`);
  precision = p;
}

function matmulProgram(attrs: MatmulAttrs, vec4A: boolean, vec4B: boolean, bias: boolean): Program {
  const { transposeA: tA, transposeB: tB, epilogue } = attrs;
  const T = precision === 'f32' ? 'f32' : 'f16'; // the tiles' type
  const S = precision === 'f16-accumulate' ? 'f16' : 'f32'; // products and sums
  const [M, N] = attrs.dims;
  const names = ['A', 'B', ...(bias ? ['Bias'] : []), ...(epilogue === 'geluGrad' ? ['U'] : [])];
  // Tiles in workgroup memory, 32 rows of 8 vec4s each, laid out as stored: As[m][k/4] or As[k][m/4]
  // (transposed A), Bs[k][n/4] or Bs[n][k/4] (transposed B). Each thread loads 4 vec4s of each.
  // Per k the thread needs a (4 rows of A) and b (4 columns of B) as vec4s: direct in the "k-major"
  // layouts, gathered from the 4 rows' vec4s in the others.
  const aAt = (j: number) =>
    tA ? `As[(k4 * 4 + ${j}) * ${V4} + tm]` : `vec4<${T}>(a0[${j}], a1[${j}], a2[${j}], a3[${j}])`;
  const bAt = (j: number) =>
    tB ? `vec4<${T}>(b0[${j}], b1[${j}], b2[${j}], b3[${j}])` : `Bs[(k4 * 4 + ${j}) * ${V4} + tn]`;
  const store =
    epilogue === 'gelu'
      ? `let u = v${bias ? ' + Bias[n]' : ''}; result[i] = gelu(u); result[M * N + i] = u;`
      : epilogue === 'geluGrad'
        ? `result[i] = geluGrad(U[M * N + i], v);`
        : `result[i] = v${bias ? ' + Bias[n]' : ''};`;
  return {
    variableNames: names,
    outputShape: epilogue === 'gelu' ? [2, M, N] : [M, N],
    shaderKey: `tabgrid_matmul_${+tA}${+tB}${+vec4A}${+vec4B}${+bias}_${epilogue}_${precision}`,
    dispatchLayout: { x: epilogue === 'gelu' ? [0, 1, 2] : [0, 1] },
    dispatch: [Math.ceil(N / TILE), Math.ceil(M / TILE), 1],
    workgroupSize: [WG, 1, 1],
    variableComponents: names.map((x) =>
      x === 'A' ? (vec4A ? 4 : 1) : x === 'B' && vec4B ? 4 : 1,
    ),
    uniforms: 'M : i32, N : i32, K : i32,',
    getUserCode: () => `
${T === 'f16' ? '  enable f16;' : ''}
  var<workgroup> As : array<vec4<${T}>, ${TILE * V4}>;
  var<workgroup> Bs : array<vec4<${T}>, ${TILE * V4}>;
${loader('A', vec4A)}
${loader('B', vec4B)}
${epilogue === 'none' ? '' : GELU_WGSL}
  fn main(index : i32) {
    let tid = i32(localId.x);
    let tm = tid / ${V4}; // this thread's rows: m0 + 4·tm … + 3
    let tn = tid % ${V4}; // its columns: n0 + 4·tn … + 3
    let m0 = i32(workgroupId.y) * ${TILE};
    let n0 = i32(workgroupId.x) * ${TILE};
    let M = uniforms.M;
    let N = uniforms.N;
    let K = uniforms.K;
    var acc0 = vec4<${S}>(0.0);
    var acc1 = vec4<${S}>(0.0);
    var acc2 = vec4<${S}>(0.0);
    var acc3 = vec4<${S}>(0.0);
    for (var k0 = 0; k0 < K; k0 += ${TILE}) {
      workgroupBarrier(); // before the writes: the GL ES trap of docs/gpu.md
      for (var e = tid; e < ${TILE * V4}; e += ${WG}) {
        let r = e / ${V4};
        let c = (e % ${V4}) * 4;
        As[e] = vec4<${T}>(${tA ? 'loadA(k0 + r, m0 + c, K, M)' : 'loadA(m0 + r, k0 + c, M, K)'});
        Bs[e] = vec4<${T}>(${tB ? 'loadB(n0 + r, k0 + c, N, K)' : 'loadB(k0 + r, n0 + c, K, N)'});
      }
      workgroupBarrier();
      for (var k4 = 0; k4 < ${V4}; k4++) {
${tA ? '' : [0, 1, 2, 3].map((i) => `        let a${i} = As[(tm * 4 + ${i}) * ${V4} + k4];`).join('\n')}
${tB ? [0, 1, 2, 3].map((j) => `        let b${j} = Bs[(tn * 4 + ${j}) * ${V4} + k4];`).join('\n') : ''}
${[0, 1, 2, 3]
  .map(
    (j) => `        {
          let a = vec4<${S}>(${aAt(j)});
          let b = vec4<${S}>(${bAt(j)});
          acc0 += a.x * b; acc1 += a.y * b; acc2 += a.z * b; acc3 += a.w * b;
        }`,
  )
  .join('\n')}
      }
    }
    let accs = array<vec4<${S}>, 4>(acc0, acc1, acc2, acc3);
    for (var i4 = 0; i4 < 4; i4++) {
      let m = m0 + tm * 4 + i4;
      if (m >= M) { break; }
      for (var j = 0; j < 4; j++) {
        let n = n0 + tn * 4 + j;
        if (n < N) {
          let i = m * N + n;
          let v = f32(accs[i4][j]);
          ${store}
        }
      }
    }
  }`,
  };
}

export const MATMUL_KERNEL = 'TabgridMatMul';

/** Registers the kernel with tfjs's webgpu backend (once; harmless where it is absent). */
export function registerMatmulKernel(): void {
  if (tf.getKernel(MATMUL_KERNEL, 'webgpu')) return;
  const kernelFunc = (args: {
    inputs: tf.NamedTensorInfoMap;
    backend: unknown;
    attrs: MatmulAttrs;
  }) => {
    const { a, b, bias, u } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, dims } = args.attrs;
    const [M, N, K] = dims;
    // vec4 loads need the stored rows' length (the contiguous axis) to be a multiple of 4.
    const vec4A = (transposeA ? M : K) % 4 === 0;
    const vec4B = (transposeB ? K : N) % 4 === 0;
    const inputs = [a!, b!, ...(bias ? [bias] : []), ...(u ? [u] : [])];
    return (args.backend as WebGPUBackendLike).runWebGPUProgram(
      matmulProgram(args.attrs, vec4A, vec4B, Boolean(bias)),
      inputs,
      'float32',
      dims.map((d) => ({ type: 'int32', data: [d] })),
    );
  };
  tf.registerKernel({
    kernelName: MATMUL_KERNEL,
    backendName: 'webgpu',
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  });
}

/** Whether the kernel is registered on the running WebGPU backend. */
export function tiledMatmulRegistered(): boolean {
  return tf.getBackend() === 'webgpu' && Boolean(tf.getKernel(MATMUL_KERNEL, 'webgpu'));
}

let modelMatmul = false;

/** Has gpt.ts's `matmul` run on the kernel (register.ts's `matmul`), where it is registered. */
export function useTiledMatmul(): void {
  modelMatmul = true;
}

/** Whether gpt.ts's `matmul` runs on the kernel: WebGPU, registered, turned on. */
export function tiledMatmulOn(): boolean {
  return modelMatmul && tiledMatmulRegistered();
}

/**
 * op(a) · op(b) (+ bias) with an epilogue, on the kernel: `dims` (M, N, K) say how much of each
 * operand is read (row-major from its start), so a gelu result (2, M, K) serves as A of size (M, K).
 */
export function tiledMatmul(
  a: tf.Tensor,
  b: tf.Tensor,
  attrs: MatmulAttrs,
  extra: { bias?: tf.Tensor; u?: tf.Tensor } = {},
): tf.Tensor {
  const inputs: Record<string, tf.Tensor> = { a, b };
  if (extra.bias) inputs.bias = extra.bias;
  if (extra.u) inputs.u = extra.u;
  return tf
    .engine()
    .runKernel(MATMUL_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** a (M, K) @ b (K, N) on the kernel, with its gradient on it too: dy·bᵀ and aᵀ·dy read transposed. */
export const fusedMatmul = tf.customGrad(((
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  save: tf.GradSaveFunc,
) => {
  const [M, K] = a.shape;
  const N = b.shape[1];
  save([a, b]);
  const mm = (tA: boolean, tB: boolean, dims: [number, number, number]) => ({
    transposeA: tA,
    transposeB: tB,
    epilogue: 'none' as const,
    dims,
  });
  return {
    value: tiledMatmul(a, b, mm(false, false, [M, N, K])),
    gradFunc: (dy: tf.Tensor2D, [sa, sb]: tf.Tensor[]) => [
      tiledMatmul(dy, sb!, mm(false, true, [M, K, N])), // (M, N)·(K, N)ᵀ
      tiledMatmul(sa!, dy, mm(true, false, [K, N, M])), // (M, K)ᵀ·(M, N)
    ],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
