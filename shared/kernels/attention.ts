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

/** Rows of keys per tile: a power of 2 ≤ 64 whose `vec4sPerRow` vec4s fit in workgroup memory. */
function tileRows(vec4sPerRow: number): number {
  let tk = 64;
  while (tk > 1 && tk * vec4sPerRow * 16 > WORKGROUP_BYTES) tk >>= 1;
  return tk;
}

/**
 * WGSL functions that read 4 values of a head's slice (`at` its start, `d4` the vec4's index) from
 * Qkv and Dy (those the kernel has), zeros past the head size; and `put` that writes one back to `result`.
 */
function vec4Io(hs: number, inputs: string[]): string {
  const at = (a: string, j: number) =>
    hs % 4 === 0
      ? `${a}[i + ${j}]`
      : `select(0.0, ${a}[min(i + ${j}, at + HS - 1)], 4 * d4 + ${j} < HS)`;
  const ld = (a: string) => `
  fn ld${a}(at : i32, d4 : i32) -> vec4<f32> {
    let i = at + 4 * d4;
    return vec4<f32>(${[0, 1, 2, 3].map((j) => at(a, j)).join(', ')});
  }`;
  const put = [0, 1, 2, 3]
    .map((j) =>
      hs % 4 === 0 || j === 0
        ? `result[i + ${j}] = x[${j}];`
        : `if (4 * d4 + ${j} < HS) { result[i + ${j}] = x[${j}]; }`,
    )
    .join(' ');
  return `${inputs
    .filter((a) => a !== 'S')
    .map(ld)
    .join('')}
  fn put(at : i32, d4 : i32, x : vec4<f32>) {
    let i = at + 4 * d4;
    ${put}
  }`;
}

/**
 * The skeleton every kernel shares: thread `t` of workgroup (b, h, t0) is query row t, its head's
 * values in registers as HS4 vec4s; the loop runs over every tile of TK key rows (a uniform bound, so
 * the barriers stay in uniform control flow), `load` filling workgroup memory (element i: row r,
 * vec4 d4) between barriers (before each write too: the GL ES trap of docs/gpu.md). vec4s because
 * Mesa's GL ES compiler turned 32 scalar registers per array into slow indexed code (measured: docs/gpu.md).
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
  const HS4 = ${Math.ceil(hs / 4)};
  const TK = ${tk};
${parts.shared}
${vec4Io(hs, variableNames)}
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
    let rowO = (b * T + t) * C + h * HS; // row t's slice of y and dy
${parts.setup}
    for (var s0 = 0; s0 < T; s0 += TK) {
      workgroupBarrier();
      for (var i = tid; i < TK * HS4; i += ${WG}) {
        let r = i / HS4;
        let d4 = i % HS4;
        let s = min(s0 + r, T - 1);
        let at = (b * T + s) * C3 + h * HS;
        let atO = (b * T + s) * C + h * HS;
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

/** Registers (vec4s; WGSL zero-initialises function variables). */
const regs = (names: string[]) =>
  names.map((n) => `    var ${n} : array<vec4<f32>, HS4>;`).join('\n');
const tiles = (names: string[], tk: number, hs: number) =>
  names
    .map((n) => `  var<workgroup> ${n} : array<vec4<f32>, ${tk * Math.ceil(hs / 4)}>;`)
    .join('\n');
/** Σ_d4 dot(a[d4], b[d4]) into `var name`: a and b are WGSL expressions in d4. */
const dot = (name: string, a: string, b: string) =>
  `var ${name} = 0.0;\n        for (var d4 = 0; d4 < HS4; d4++) { ${name} += dot(${a}, ${b}); }`;

/**
 * The online softmax over one tile (scores of row t against keys s ≤ t, scaled, max m, sum l), with
 * `accumulate` run for each kept key with its weight p, after `rescale` (by corr) on a new max.
 */
const onlineSoftmax = (accumulate: string, rescale: string) => `
      var sc : array<f32, TK>;
      var mt = m;
      for (var r = 0; r < TK; r++) {
        ${dot('x', 'q[d4]', 'Ks[r * HS4 + d4]')}
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
    var q : array<vec4<f32>, HS4>;
    for (var d4 = 0; d4 < HS4; d4++) { q[d4] = ldQkv(rowQ, d4); }
    var m = -3.0e38;
    var l = 0.0;${extra}`;

const loadKv = `        Ks[i] = ldQkv(at + C, d4);\n        Vs[i] = ldQkv(at + 2 * C, d4);`;
const workgroupsOf = (rows: number, T: number, nh: number) => (rows / T) * nh * Math.ceil(T / WG);

/** y (B·T, C): row t of head h = Σ_s softmax(q_t·k_s·scale) v_s over s ≤ t. */
function forward(rows: number, C3: number, T: number, nh: number): Program {
  const hs = C3 / 3 / nh;
  const tk = tileRows(2 * Math.ceil(hs / 4));
  return program('attn_fwd', ['Qkv'], [rows, C3 / 3], workgroupsOf(rows, T, nh), hs, tk, {
    shared: tiles(['Ks', 'Vs'], tk, hs),
    setup: softmaxSetup(`\n${regs(['acc'])}`),
    load: loadKv,
    tile: onlineSoftmax(
      'for (var d4 = 0; d4 < HS4; d4++) { acc[d4] += p * Vs[r * HS4 + d4]; }',
      'for (var d4 = 0; d4 < HS4; d4++) { acc[d4] *= corr; }',
    ),
    done: `      for (var d4 = 0; d4 < HS4; d4++) { put(rowO, d4, acc[d4] / l); }`,
  });
}

/** (B·nh·T, 2): each row's logsumexp L and D = dO·O = Σ_s p_s (dO·v_s), from the same online softmax. */
function rowStats(rows: number, C3: number, T: number, nh: number): Program {
  const hs = C3 / 3 / nh;
  const tk = tileRows(2 * Math.ceil(hs / 4));
  return program(
    'attn_stats',
    ['Qkv', 'Dy'],
    [(rows / T) * nh * T, 2],
    workgroupsOf(rows, T, nh),
    hs,
    tk,
    {
      shared: tiles(['Ks', 'Vs'], tk, hs),
      setup: softmaxSetup(`
    var dO : array<vec4<f32>, HS4>;
    for (var d4 = 0; d4 < HS4; d4++) { dO[d4] = ldDy(rowO, d4); }
    var e = 0.0;`),
      load: loadKv,
      tile: onlineSoftmax(
        `${dot('dv', 'dO[d4]', 'Vs[r * HS4 + d4]')}\n          e += p * dv;`,
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
  const tk = tileRows(4 * Math.ceil(hs / 4) + 1);
  return program('attn_bwd', ['Qkv', 'Dy', 'S'], [rows, C3], workgroupsOf(rows, T, nh), hs, tk, {
    shared: `${tiles(['Qs', 'Ks', 'Vs', 'Os'], tk, hs)}\n  var<workgroup> Ls : array<f32, ${tk}>;\n  var<workgroup> Es : array<f32, ${tk}>;`,
    setup: `
    var q : array<vec4<f32>, HS4>;
    var k : array<vec4<f32>, HS4>;
    var v : array<vec4<f32>, HS4>;
    var dO : array<vec4<f32>, HS4>;
    for (var d4 = 0; d4 < HS4; d4++) {
      q[d4] = ldQkv(rowQ, d4);
      k[d4] = ldQkv(rowQ + C, d4);
      v[d4] = ldQkv(rowQ + 2 * C, d4);
      dO[d4] = ldDy(rowO, d4);
    }
    let L = S[(bh * T + t) * 2];
    let E = S[(bh * T + t) * 2 + 1];
${regs(['dq', 'dk', 'dv'])}`,
    load: `        Qs[i] = ldQkv(at, d4);
${loadKv}
        Os[i] = ldDy(atO, d4);
        if (d4 == 0) {
          Ls[r] = S[(bh * T + s) * 2];
          Es[r] = S[(bh * T + s) * 2 + 1];
        }`,
    tile: `
      for (var r = 0; r < TK; r++) {
        let s = s0 + r;
        if (s <= t) {
          ${dot('x', 'q[d4]', 'Ks[r * HS4 + d4]')}
          ${dot('y', 'dO[d4]', 'Vs[r * HS4 + d4]')}
          let ds = exp(x * uniforms.scale - L) * (y - E);
          for (var d4 = 0; d4 < HS4; d4++) { dq[d4] += ds * Ks[r * HS4 + d4]; }
        }
        if (s >= t && s < T) {
          ${dot('x', 'Qs[r * HS4 + d4]', 'k[d4]')}
          ${dot('y', 'Os[r * HS4 + d4]', 'v[d4]')}
          let p = exp(x * uniforms.scale - Ls[r]);
          let ds = p * (y - Es[r]);
          for (var d4 = 0; d4 < HS4; d4++) {
            dv[d4] += p * Os[r * HS4 + d4];
            dk[d4] += ds * Qs[r * HS4 + d4];
          }
        }
      }`,
    done: `      for (var d4 = 0; d4 < HS4; d4++) {
        put(rowQ, d4, dq[d4] * uniforms.scale);
        put(rowQ + C, d4, dk[d4] * uniforms.scale);
        put(rowQ + 2 * C, d4, dv[d4]);
      }`,
  });
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
