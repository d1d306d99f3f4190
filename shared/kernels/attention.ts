// Causal self-attention as fused, flash-style WGSL kernels for TensorFlow.js's WebGPU backend, with
// its gradient: the forward is one dispatch over the packed q|k|v projections (online softmax over
// tiles of keys in workgroup memory; no T×T matrix), the backward two (each row's logsumexp and
// D = dO·O recomputed, then dq, dk, dv in one pass). Dropout is not fused: the model calls these only
// without it. Other backends, and shapes past the limits below, run the model's stock ops (docs/gpu.md).
import * as tf from '@tensorflow/tfjs';
import type { Program, WebGPUBackendLike } from './program.ts';

const WG = 64; // threads per workgroup: one per query row, 64 rows of one (batch row, head)
const MAX_HS = 128; // head sizes kept in registers (the presets: 16 to 64)
// WebGPU's default maxComputeWorkgroupStorageSize, also the compatibility mode's (the spec's limits table).
const WORKGROUP_BYTES = 16384;

/** Rows of keys per tile: a power of 2 ≤ 64 whose `floatsPerRow` floats fit in workgroup memory. */
function tileRows(floatsPerRow: number): number {
  let tk = 64;
  while (tk > 1 && tk * floatsPerRow * 4 > WORKGROUP_BYTES) tk >>= 1;
  return tk;
}

/**
 * The skeleton every kernel shares: thread `t` of workgroup (b, h, t0) is query row t; `own(name,
 * part)` loads row t's slice of q (part 0), k (1) or v (2) into a register array; the loop runs over
 * every tile of TK key rows (a uniform bound, so the barriers stay in uniform control flow), `load`
 * filling workgroup memory between barriers (before each write too: the GL ES trap of docs/gpu.md).
 */
function program(
  key: string,
  variableNames: string[],
  outputShape: number[],
  workgroups: number,
  hs: number,
  tk: number,
  parts: { shared: string; setup: string; load: string; tile: string; done: string },
): Program {
  return {
    variableNames,
    outputShape,
    shaderKey: `tabgrid_${key}_${hs}_${tk}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [workgroups, 1, 1],
    workgroupSize: [WG, 1, 1],
    uniforms: 'scale : f32, seqLen : i32, nHead : i32,',
    getUserCode: () => `
  const HS = ${hs};
  const TK = ${tk};
${parts.shared}
  fn main(index : i32) {
    let tid = i32(localId.x);
    let T = uniforms.seqLen;
    let nh = uniforms.nHead;
    let C3 = uniforms.qkvShape[1];
    let C = C3 / 3;
    let tiles = (T + ${WG - 1}) / ${WG};
    let g = index / ${WG};
    let bh = min(g / tiles, uniforms.qkvShape[0] / T * nh - 1); // spare workgroups of a 2-D dispatch: clamped, write nothing
    let live = g / tiles == bh && (g % tiles) * ${WG} + tid < T;
    let b = bh / nh;
    let h = bh % nh;
    let t = min((g % tiles) * ${WG} + tid, T - 1);
    let rowQ = (b * T + t) * C3 + h * HS; // row t's q; its k at + C, its v at + 2C
${parts.setup}
    for (var s0 = 0; s0 < T; s0 += TK) {
      workgroupBarrier();
      for (var i = tid; i < TK * HS; i += ${WG}) {
        let r = i / HS;
        let d = i % HS;
        let s = min(s0 + r, T - 1);
        let at = (b * T + s) * C3 + h * HS + d;
${parts.load}
      }
      workgroupBarrier();
${parts.tile}
    }
    if (live) {
${parts.done}
    }
  }`,
  };
}

/** Accumulators in registers (WGSL zero-initialises function variables). */
const regs = (names: string[]) => names.map((n) => `    var ${n} : array<f32, HS>;`).join('\n');

/**
 * The online softmax over one tile (scores of row t against keys s ≤ t, scaled, max m, sum l), with
 * `accumulate` run for each kept key with its weight p, after `rescale` (by corr) on a new max.
 */
const onlineSoftmax = (accumulate: string, rescale: string) => `
      var sc : array<f32, TK>;
      var mt = m;
      for (var r = 0; r < TK; r++) {
        var x = 0.0;
        for (var d = 0; d < HS; d++) { x += q[d] * Ks[r * HS + d]; }
        sc[r] = x * uniforms.scale;
        if (s0 + r <= t) { mt = max(mt, sc[r]); }
      }
      let corr = exp(m - mt);
      l = l * corr;
      ${rescale}
      for (var r = 0; r < TK; r++) {
        if (s0 + r <= t) {
          let p = exp(sc[r] - mt);
          l += p;
          ${accumulate}
        }
      }
      m = mt;`;

const softmaxSetup = (extra: string) => `
    var q : array<f32, HS>;
    for (var d = 0; d < HS; d++) { q[d] = Qkv[rowQ + d]; }
    var m = -3.0e38;
    var l = 0.0;${extra}`;

/** y (B·T, C): row t of head h = Σ_s softmax(q_t·k_s·scale) v_s over s ≤ t. */
function forward(rows: number, C3: number, T: number, nh: number): Program {
  const hs = C3 / 3 / nh;
  const tk = tileRows(2 * hs);
  return program('attn_fwd', ['Qkv'], [rows, C3 / 3], (rows / T) * nh * Math.ceil(T / WG), hs, tk, {
    shared: `  var<workgroup> Ks : array<f32, ${tk * hs}>;\n  var<workgroup> Vs : array<f32, ${tk * hs}>;`,
    setup: softmaxSetup(`\n${regs(['acc'])}`),
    load: `        Ks[i] = Qkv[at + C];\n        Vs[i] = Qkv[at + 2 * C];`,
    tile: onlineSoftmax(
      'for (var d = 0; d < HS; d++) { acc[d] += p * Vs[r * HS + d]; }',
      'for (var d = 0; d < HS; d++) { acc[d] *= corr; }',
    ),
    done: `      let out = (b * T + t) * C + h * HS;\n      for (var d = 0; d < HS; d++) { result[out + d] = acc[d] / l; }`,
  });
}

/** (B·nh·T, 2): each row's logsumexp L and D = dO·O = Σ_s p_s (dO·v_s), from the same online softmax. */
function rowStats(rows: number, C3: number, T: number, nh: number): Program {
  const hs = C3 / 3 / nh;
  const tk = tileRows(2 * hs);
  return program(
    'attn_stats',
    ['Qkv', 'Dy'],
    [(rows / T) * nh * T, 2],
    (rows / T) * nh * Math.ceil(T / WG),
    hs,
    tk,
    {
      shared: `  var<workgroup> Ks : array<f32, ${tk * hs}>;\n  var<workgroup> Vs : array<f32, ${tk * hs}>;`,
      setup: softmaxSetup(`
    var dO : array<f32, HS>;
    for (var d = 0; d < HS; d++) { dO[d] = Dy[(b * T + t) * C + h * HS + d]; }
    var e = 0.0;`),
      load: `        Ks[i] = Qkv[at + C];\n        Vs[i] = Qkv[at + 2 * C];`,
      tile: onlineSoftmax(
        'var dv = 0.0;\n          for (var d = 0; d < HS; d++) { dv += dO[d] * Vs[r * HS + d]; }\n          e += p * dv;',
        'e = e * corr;',
      ),
      done: `      result[(bh * T + t) * 2] = m + log(l);\n      result[(bh * T + t) * 2 + 1] = e / l;`,
    },
  );
}

/**
 * dqkv (B·T, 3C). Thread t is query t against keys s ≤ t (dq) and key t against queries s ≥ t (dk,
 * dv): T + 1 pairs per thread whatever t. With p = exp(q·k·scale − L), ds = p·(dO·v − D):
 * dq_t = scale·Σ ds·k_s, dk_t = scale·Σ ds·q_s, dv_t = Σ p·dO_s (FlashAttention-2's backward).
 */
function backward(rows: number, C3: number, T: number, nh: number): Program {
  const hs = C3 / 3 / nh;
  const tk = tileRows(4 * hs + 2);
  const tile = (n: string) => `  var<workgroup> ${n} : array<f32, ${tk * hs}>;`;
  return program(
    'attn_bwd',
    ['Qkv', 'Dy', 'S'],
    [rows, C3],
    (rows / T) * nh * Math.ceil(T / WG),
    hs,
    tk,
    {
      shared: `${['Qs', 'Ks', 'Vs', 'Os'].map(tile).join('\n')}\n  var<workgroup> Ls : array<f32, ${tk}>;\n  var<workgroup> Es : array<f32, ${tk}>;`,
      setup: `
    var q : array<f32, HS>;
    var k : array<f32, HS>;
    var v : array<f32, HS>;
    var dO : array<f32, HS>;
    for (var d = 0; d < HS; d++) {
      q[d] = Qkv[rowQ + d];
      k[d] = Qkv[rowQ + C + d];
      v[d] = Qkv[rowQ + 2 * C + d];
      dO[d] = Dy[(b * T + t) * C + h * HS + d];
    }
    let L = S[(bh * T + t) * 2];
    let E = S[(bh * T + t) * 2 + 1];
${regs(['dq', 'dk', 'dv'])}`,
      load: `        Qs[i] = Qkv[at];
        Ks[i] = Qkv[at + C];
        Vs[i] = Qkv[at + 2 * C];
        Os[i] = Dy[(b * T + s) * C + h * HS + d];
        if (d == 0) {
          Ls[r] = S[(bh * T + s) * 2];
          Es[r] = S[(bh * T + s) * 2 + 1];
        }`,
      tile: `
      for (var r = 0; r < TK; r++) {
        let s = s0 + r;
        if (s <= t) {
          var x = 0.0;
          var y = 0.0;
          for (var d = 0; d < HS; d++) { x += q[d] * Ks[r * HS + d]; y += dO[d] * Vs[r * HS + d]; }
          let p = exp(x * uniforms.scale - L);
          let ds = p * (y - E);
          for (var d = 0; d < HS; d++) { dq[d] += ds * Ks[r * HS + d]; }
        }
        if (s >= t && s < T) {
          var x = 0.0;
          var y = 0.0;
          for (var d = 0; d < HS; d++) { x += Qs[r * HS + d] * k[d]; y += Os[r * HS + d] * v[d]; }
          let p = exp(x * uniforms.scale - Ls[r]);
          let ds = p * (y - Es[r]);
          for (var d = 0; d < HS; d++) {
            dv[d] += p * Os[r * HS + d];
            dk[d] += ds * Qs[r * HS + d];
          }
        }
      }`,
      done: `      for (var d = 0; d < HS; d++) {
        result[rowQ + d] = dq[d] * uniforms.scale;
        result[rowQ + C + d] = dk[d] * uniforms.scale;
        result[rowQ + 2 * C + d] = dv[d];
      }`,
    },
  );
}

const KERNELS = {
  forward: 'TabgridAttention',
  stats: 'TabgridAttentionStats',
  backward: 'TabgridAttentionGrad',
} as const;

type Attrs = { seqLen: number; nHead: number };

/** Registers the three kernels with tfjs's webgpu backend (once; harmless where it is absent). */
export function registerAttentionKernels(): void {
  const kernels = [
    [KERNELS.forward, forward],
    [KERNELS.stats, rowStats],
    [KERNELS.backward, backward],
  ] as const;
  for (const [kernelName, make] of kernels) {
    if (tf.getKernel(kernelName, 'webgpu')) continue;
    const kernelFunc = (args: {
      inputs: tf.NamedTensorInfoMap;
      backend: unknown;
      attrs: Attrs;
    }) => {
      const inputs = Object.values(args.inputs) as tf.TensorInfo[];
      const [rows, C3] = inputs[0]!.shape as [number, number];
      const { seqLen: T, nHead: nh } = args.attrs;
      return (args.backend as WebGPUBackendLike).runWebGPUProgram(
        make(rows, C3, T, nh),
        inputs,
        'float32',
        [
          { type: 'float32', data: [1 / Math.sqrt(C3 / 3 / nh)] },
          { type: 'int32', data: [T] },
          { type: 'int32', data: [nh] },
        ],
      );
    };
    tf.registerKernel({
      kernelName,
      backendName: 'webgpu',
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
    });
  }
}

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Attrs) =>
  tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;

/** Whether the fused attention runs for qkv (B, T, 3C) with nh heads: WebGPU, registered, head size ≤ MAX_HS. */
export function fusedAttentionAvailable(shape: number[], nh: number): boolean {
  const hs = shape[2]! / 3 / nh;
  return (
    tf.getBackend() === 'webgpu' &&
    Number.isInteger(hs) &&
    hs <= MAX_HS &&
    Boolean(tf.getKernel(KERNELS.forward, 'webgpu'))
  );
}

/** Causal self-attention without dropout: qkv (B, T, 3C), q|k|v side by side, heads inside each → y (B, T, C). */
export function fusedAttention(qkv: tf.Tensor, nh: number): tf.Tensor {
  const [B, T, C3] = qkv.shape as [number, number, number];
  const attrs = { seqLen: T, nHead: nh };
  const op = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([x]);
    return {
      value: run(KERNELS.forward, { qkv: x }, attrs),
      gradFunc: (dy: tf.Tensor2D, [sx]: tf.Tensor[]) => {
        const s = run(KERNELS.stats, { qkv: sx!, dy }, attrs);
        return [run(KERNELS.backward, { qkv: sx!, dy, s }, attrs)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
  return tf.reshape(op(tf.reshape(qkv, [B * T, C3])), [B, T, C3 / 3]);
}
