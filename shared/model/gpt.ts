// nanoGPT's GPT in TensorFlow.js, in nanoGPT's order: config → ops → attention → MLP → block → GPT
// → loss. Written so that every tfjs backend can train it (webgpu, wasm, webgl, cpu):
// - embeddings are one-hot × matrix, because WASM has no UnsortedSegmentSum for gather's gradient;
// - every matmul goes through `matmul` below, whose backward uses explicit transposes and plain
//   matMuls, the only form WASM runs on XNNPACK (docs/backends.md: 4–6× faster steps, identical losses);
// - attention's per-head matmuls go through `gmm`, a depthwise convolution on WASM (XNNPACK again);
// - initial weights are drawn on the CPU from the spec's seeded RNG, so step 0 is identical everywhere.
import * as tf from '@tensorflow/tfjs';
import { fusedAttention, fusedAttentionAvailable } from '../kernels/attention.ts';
import { fusedCrossEntropy, fusedCrossEntropyAvailable } from '../kernels/cross-entropy.ts';
import { fusedGelu, fusedGeluAvailable, GELU_A, GELU_B } from '../kernels/gelu.ts';
import { layerNorm as fusedLayerNorm } from '../kernels/layer-norm.ts';
import { fusedMatmul, tiledMatmulOn } from '../kernels/matmul.ts';
import { fusedMlp, fusedMlpAvailable } from '../kernels/mlp.ts';
import { transposedMatmulOn } from '../kernels/register.ts';
import { Rng } from '../rng.ts';
import type { ModelConfig } from '../spec.ts';

// ---------------------------------------------------------------------------------------------
// Ops every backend can differentiate quickly

const transpose2d = (x: tf.Tensor) => tf.transpose(x as tf.Tensor2D);

/**
 * a (M, K) @ b (K, N), with a backward pass made of plain (untransposed) 2-D matMuls, the only form
 * WASM runs on XNNPACK (docs/backends.md); on WebGPU with Tabgrid's kernels, matMuls that read an
 * operand transposed. Inputs the gradient needs go through `save`: tf.variableGrads runs the forward
 * pass in its own tidy, so anything else is disposed before the backward pass.
 */
export const matmulStock = tf.customGrad(((
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  save: tf.GradSaveFunc,
) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor2D, [sa, sb]: tf.Tensor[]) =>
      // WebGPU's matMul can read an operand transposed in place: two Transpose dispatches fewer (docs/gpu.md).
      transposedMatmulOn()
        ? [
            tf.matMul(dy, sb as tf.Tensor2D, false, true),
            tf.matMul(sa as tf.Tensor2D, dy, true, false),
          ]
        : [
            tf.matMul(dy, transpose2d(sb!) as tf.Tensor2D),
            tf.matMul(transpose2d(sa!) as tf.Tensor2D, dy),
          ],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** a (M, K) @ b (K, N): shared/kernels/matmul.ts's tiled kernel on WebGPU once turned on, matmulStock elsewhere. */
export const matmul = (a: tf.Tensor, b: tf.Tensor) =>
  tiledMatmulOn() ? fusedMatmul(a, b) : matmulStock(a, b);

/** out (M, G, N) of x (M, K, G) and f (K, G, N) as one depthwise convolution (see gmm). */
function depthwiseGroups(x: tf.Tensor, f: tf.Tensor, [M, K, G, N]: number[]): tf.Tensor {
  const image = tf.reshape(x, [1, M!, K!, G!]) as tf.Tensor4D; // NHWC: one image, M×K pixels, G channels
  const filter = tf.reshape(f, [1, K!, G!, N!]) as tf.Tensor4D; // a 1×K window, N outputs per channel
  return tf.reshape(tf.depthwiseConv2d(image, filter, 1, 'valid'), [M!, G!, N!]); // (1, M, 1, G·N)
}

/** gmm on WASM: depthwise convolutions forward and backward, all on XNNPACK. */
export const gmmDepthwise = tf.customGrad(((
  x: tf.Tensor3D,
  f: tf.Tensor3D,
  save: tf.GradSaveFunc,
) => {
  const [M, K, G] = x.shape;
  const N = f.shape[2];
  save([x, f]);
  return {
    value: depthwiseGroups(x, f, [M, K, G, N]),
    gradFunc: (dy: tf.Tensor3D, [sx, sf]: tf.Tensor[]) => [
      // dx_g = dy_g (M×N) @ f_gᵀ (N×K): x' (M, N, G), f' (N, G, K) → (M, G, K) → (M, K, G)
      tf.transpose(
        depthwiseGroups(tf.transpose(dy, [0, 2, 1]), tf.transpose(sf!, [2, 1, 0]), [M, N, G, K]),
        [0, 2, 1],
      ),
      // df_g = x_gᵀ (K×M) @ dy_g (M×N): x' (K, M, G), f' = dy (M, G, N) → (K, G, N)
      depthwiseGroups(tf.transpose(sx!, [1, 0, 2]), dy, [K, M, G, N]),
    ],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor, f: tf.Tensor) => tf.Tensor;

/** gmm elsewhere: one batched matMul between layout changes. */
export function gmmBatched(x: tf.Tensor, f: tf.Tensor): tf.Tensor {
  const xb = tf.transpose(x, [2, 0, 1]) as tf.Tensor3D; // (G, M, K)
  const fb = tf.transpose(f, [1, 0, 2]) as tf.Tensor3D; // (G, K, N)
  return tf.transpose(tf.matMul(xb, fb), [1, 0, 2]); // (G, M, N) → (M, G, N)
}

/**
 * Grouped matmul, G independent (M×K) @ (K×N) products: out[m, g, n] = Σ_k x[m, k, g] · f[k, g, n].
 * x: (M, K, G), f: (K, G, N) → (M, G, N): the layouts of a depthwise convolution with a 1×K window
 * and N outputs per channel, which WASM runs on XNNPACK, while its batched matMul is a scalar loop
 * (docs/backends.md; attention's matmuls went from ~13 to ~2 ms per layer forward, measured in Node).
 * The other backends have fast batched matMuls, and a slow (cpu) or unmeasured depthwise kernel.
 */
export function gmm(x: tf.Tensor, f: tf.Tensor): tf.Tensor {
  return tf.getBackend() === 'wasm' ? gmmDepthwise(x, f) : gmmBatched(x, f);
}

// GPT-2's GELU, 0.5·x·(1 + tanh z) with z = √(2/π)·(x + 0.044715·x³), is x·σ(2z) exactly: GELU_A,
// GELU_B in shared/kernels/gelu.ts, whose fused kernels the MLP uses on WebGPU.
/**
 * GELU, tanh approximation (GPT-2's; tfjs has no GELU op), computed as x·σ(u), u = A·x + B·x³,
 * with a hand-written gradient σ + x·σ(1 − σ)·(A + 3B·x²): on WASM, tanh and pow cost ~25× and ~40×
 * a sigmoid or a mul of the same size (measured in Node), and autodiff of pow also takes a log.
 */
export const geluStock = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const s = tf.sigmoid(tf.mul(x, tf.add(GELU_A, tf.mul(GELU_B, tf.square(x)))));
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [sx, sv]: tf.Tensor[]) => {
      const du = tf.add(GELU_A, tf.mul(3 * GELU_B, tf.square(sx!)));
      return tf.mul(dy, tf.add(sv!, tf.mul(tf.mul(sx!, tf.mul(sv!, tf.sub(1, sv!))), du)));
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/** GELU: shared/kernels/gelu.ts's fused kernels on WebGPU once registered, geluStock elsewhere. */
export const gelu = (x: tf.Tensor) => (fusedGeluAvailable() ? fusedGelu(x) : geluStock(x));

/**
 * LayerNorm over the last axis with optional bias (nanoGPT's LayerNorm, eps 1e-5). Without a bias on
 * WebGPU it is shared/kernels/layer-norm.ts's fused op (one dispatch forward where this formula takes
 * nine: docs/gpu.md), which falls back to this same formula until registerLayerNormKernels() has run;
 * every other backend runs the formula below.
 */
function layerNorm(x: tf.Tensor, weight: tf.Variable, bias: tf.Variable | null): tf.Tensor {
  if (!bias && tf.getBackend() === 'webgpu') return fusedLayerNorm(x, weight);
  const { mean, variance } = tf.moments(x, -1, true);
  const y = tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), weight);
  return bias ? tf.add(y, bias) : y;
}

/** x (…, in) @ W (in, out) + b, flattened to 2-D for the matmul (`mm`: matmul unless told). */
function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null, mm = matmul): tf.Tensor {
  const shape = x.shape;
  const y = mm(tf.reshape(x, [-1, shape[shape.length - 1]!]), w);
  const out = b ? tf.add(y, b) : y;
  return tf.reshape(out, [...shape.slice(0, -1), w.shape[1]!]);
}

/** The MLP's stock ops: GELU(x·W_fc + b_fc)·W_proj + b_proj, x (…, C) → (…, C), on `mm`'s matmuls. */
export const mlpStock = (
  x: tf.Tensor,
  wFc: tf.Tensor,
  bFc: tf.Tensor | null,
  wProj: tf.Tensor,
  bProj: tf.Tensor | null,
  mm = matmul,
) => linear(gelu(linear(x, wFc, bFc, mm)), wProj, bProj, mm); // (…, 4C) inside

/**
 * Causal self-attention's core with stock ops: qkv (B, T, 3C) (q, k, v side by side, nh heads in
 * each) → (B, T, C), heads merged back. `mask` is causalMask(T).
 */
export function attend(
  qkv: tf.Tensor,
  nh: number,
  mask: tf.Tensor3D,
  drop: Dropout | null,
): tf.Tensor {
  const [B, T, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  const hs = C / nh;
  const G = B * nh; // one group of gmm per (batch row, head)
  const [q, k, v] = tf.split(qkv, 3, 2).map((t) => tf.reshape(t, [B, T, nh, hs])) as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ]; // (B, T, nh, hs)
  const qx = tf.reshape(tf.transpose(q, [1, 3, 0, 2]), [T, hs, G]); // (T, hs, B·nh)
  const kf = tf.reshape(tf.transpose(k, [3, 0, 2, 1]), [hs, G, T]); // (hs, B·nh, T): kᵀ per head
  let att = tf.mul(gmm(qx, kf), 1 / Math.sqrt(hs)); // (T, B·nh, T): query, head, key
  att = tf.softmax(tf.add(att, mask)); // over the keys
  if (drop) att = drop(att);
  const vf = tf.reshape(tf.transpose(v, [1, 0, 2, 3]), [T, G, hs]); // (T, B·nh, hs)
  const y = gmm(tf.transpose(att, [0, 2, 1]), vf); // (T, B·nh, hs) = (T, B, nh, hs)
  return tf.transpose(tf.reshape(y, [T, B, C]), [1, 0, 2]); // (B, T, C)
}

/** The causal mask (T, 1, T) `attend` adds to the scores: 0 where key ≤ query, −1e9 above. */
export function causalMask(T: number): tf.Tensor3D {
  const values = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = -1e9;
  return tf.tensor3d(values, [T, 1, T]); // (query, ·, key)
}

/** −log softmax(logits)[target] per row with stock ops: logits (N, V), targets (N) int32 → (N). */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor1D {
  const logp = tf.logSoftmax(logits); // (N, V)
  // One-hot × log-probabilities instead of gather, whose gradient WASM lacks (docs/backends.md).
  const oneHot = tf.cast(tf.oneHot(targets as tf.Tensor1D, logits.shape[1]!), 'float32');
  return tf.neg(tf.sum(tf.mul(oneHot, logp), -1));
}

/** Applies dropout with a fresh seed per call (a fixed seed would repeat one mask: docs/backends.md). */
export type Dropout = (x: tf.Tensor) => tf.Tensor;

// ---------------------------------------------------------------------------------------------
// Parameters: named, ordered, drawn on the CPU from the seed

export interface Param {
  name: string;
  variable: tf.Variable;
  decay: boolean; // weight decay on matrices and embeddings only (nanoGPT's optimizer groups)
}

class Params {
  readonly list: Param[] = [];
  readonly #rng: Rng;
  constructor(seed: number) {
    this.#rng = Rng.derive(seed, 'init');
  }
  #add(name: string, shape: number[], values: Float32Array, decay: boolean): tf.Variable {
    const init = tf.tensor(values, shape);
    const variable = tf.variable(init, true); // tfjs names must be unique engine-wide: auto
    init.dispose(); // tf.variable copies its initial value (docs/backends.md)
    this.list.push({ name, variable, decay });
    return variable;
  }
  normal(name: string, shape: number[], std: number): tf.Variable {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = this.#rng.normal() * std;
    return this.#add(name, shape, values, true);
  }
  constant(name: string, shape: number[], value: number): tf.Variable {
    return this.#add(
      name,
      shape,
      new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value),
      false,
    );
  }
}

interface LayerNormParams {
  weight: tf.Variable;
  bias: tf.Variable | null;
}
interface BlockParams {
  ln1: LayerNormParams;
  attnW: tf.Variable; // (C, 3C): q, k, v projections side by side
  attnB: tf.Variable | null;
  projW: tf.Variable; // (C, C)
  projB: tf.Variable | null;
  ln2: LayerNormParams;
  fcW: tf.Variable; // (C, 4C)
  fcB: tf.Variable | null;
  fcProjW: tf.Variable; // (4C, C)
  fcProjB: tf.Variable | null;
}

// ---------------------------------------------------------------------------------------------
// The model

export class GPT {
  readonly config: ModelConfig;
  readonly params: Param[];
  readonly #wte: tf.Variable; // (V, C), tied with the output head
  readonly #wpe: tf.Variable; // (blockSize, C)
  readonly #blocks: BlockParams[];
  readonly #lnF: LayerNormParams;
  readonly #masks = new Map<number, tf.Tensor3D>(); // T → causal mask (T, 1, T): 0 or -1e9

  constructor(config: ModelConfig, seed: number) {
    this.config = config;
    const { nLayer, nEmbd: C, vocabSize: V, blockSize, bias } = config;
    const p = new Params(seed);
    const ln = (name: string): LayerNormParams => ({
      weight: p.constant(`${name}.weight`, [C], 1),
      bias: bias ? p.constant(`${name}.bias`, [C], 0) : null,
    });
    const zeros = (name: string, n: number) => (bias ? p.constant(name, [n], 0) : null);
    // nanoGPT's init: N(0, 0.02), residual projections scaled by 1/sqrt(2·nLayer) (GPT-2 paper).
    const projStd = 0.02 / Math.sqrt(2 * nLayer);
    this.#wte = p.normal('wte', [V, C], 0.02);
    this.#wpe = p.normal('wpe', [blockSize, C], 0.02);
    this.#blocks = Array.from({ length: nLayer }, (_, i) => {
      const h = `h.${i}`;
      return {
        ln1: ln(`${h}.ln_1`),
        attnW: p.normal(`${h}.attn.c_attn.weight`, [C, 3 * C], 0.02),
        attnB: zeros(`${h}.attn.c_attn.bias`, 3 * C),
        projW: p.normal(`${h}.attn.c_proj.weight`, [C, C], projStd),
        projB: zeros(`${h}.attn.c_proj.bias`, C),
        ln2: ln(`${h}.ln_2`),
        fcW: p.normal(`${h}.mlp.c_fc.weight`, [C, 4 * C], 0.02),
        fcB: zeros(`${h}.mlp.c_fc.bias`, 4 * C),
        fcProjW: p.normal(`${h}.mlp.c_proj.weight`, [4 * C, C], projStd),
        fcProjB: zeros(`${h}.mlp.c_proj.bias`, C),
      };
    });
    this.#lnF = ln('ln_f');
    this.params = p.list;
  }

  #mask(T: number): tf.Tensor3D {
    let m = this.#masks.get(T);
    if (!m) {
      m = tf.keep(causalMask(T)); // made inside a step's tidy, kept
      this.#masks.set(T, m);
    }
    return m;
  }

  /**
   * Causal self-attention. x: (B, T, C) → (B, T, C). Without dropout on WebGPU the core is
   * shared/kernels/attention.ts's fused kernels (three dispatches where the stock ops take dozens:
   * docs/gpu.md); every other case runs `attend`, the stock ops.
   */
  #attention(x: tf.Tensor, b: BlockParams, drop: Dropout | null): tf.Tensor {
    const T = x.shape[1]!;
    const nh = this.config.nHead;
    const qkv = linear(x, b.attnW, b.attnB); // (B, T, 3C)
    const merged =
      !drop && fusedAttentionAvailable(qkv.shape, nh)
        ? fusedAttention(qkv, nh)
        : attend(qkv, nh, this.#mask(T), drop); // (B, T, C)
    const out = linear(merged, b.projW, b.projB);
    return drop ? drop(out) : out;
  }

  /**
   * MLP: C → 4C → GELU → C. x: (B, T, C) → (B, T, C). On WebGPU with the fused MLP turned on,
   * shared/kernels/mlp.ts (GELU in the first matmul's epilogue: docs/gpu.md); the stock ops elsewhere.
   */
  #mlp(x: tf.Tensor, b: BlockParams, drop: Dropout | null): tf.Tensor {
    const out = (fusedMlpAvailable() ? fusedMlp : mlpStock)(x, b.fcW, b.fcB, b.fcProjW, b.fcProjB);
    return drop ? drop(out) : out;
  }

  /** idx: (B, T) int32 token ids → logits (B·T, V). `drop` is null when not training. */
  forward(idx: tf.Tensor2D, drop: Dropout | null): tf.Tensor2D {
    const [B, T] = idx.shape;
    const { vocabSize: V, nEmbd: C, blockSize } = this.config;
    if (T > blockSize)
      throw new Error(`sequence of length ${T} exceeds the block size ${blockSize}`);
    const oneHot = tf.cast(tf.oneHot(tf.reshape(idx, [-1]), V), 'float32'); // (B·T, V); cast: docs/backends.md
    const tok = tf.reshape(matmul(oneHot, this.#wte), [B, T, C]); // (B, T, C)
    const pos = tf.slice(this.#wpe, [0, 0], [T, C]); // (T, C)
    let x = tf.add(tok, pos);
    if (drop) x = drop(x);
    for (const b of this.#blocks) {
      x = tf.add(x, this.#attention(layerNorm(x, b.ln1.weight, b.ln1.bias), b, drop));
      x = tf.add(x, this.#mlp(layerNorm(x, b.ln2.weight, b.ln2.bias), b, drop));
    }
    x = layerNorm(x, this.#lnF.weight, this.#lnF.bias);
    return matmul(tf.reshape(x, [B * T, C]), tf.transpose(this.#wte)) as tf.Tensor2D; // (B·T, V), tied head
  }

  /**
   * Cross-entropy per target token in nats: (B·T). targets: (B, T) int32. On WebGPU it is
   * shared/kernels/cross-entropy.ts's fused kernels (one dispatch each way: docs/gpu.md).
   */
  tokenLosses(idx: tf.Tensor2D, targets: tf.Tensor2D, drop: Dropout | null): tf.Tensor1D {
    const logits = this.forward(idx, drop);
    if (fusedCrossEntropyAvailable(logits.shape))
      return fusedCrossEntropy(logits, tf.reshape(targets, [-1]));
    return crossEntropy(logits, tf.reshape(targets, [-1]));
  }

  /** Mean cross-entropy in nats: the training loss. */
  loss(idx: tf.Tensor2D, targets: tf.Tensor2D, drop: Dropout | null): tf.Scalar {
    return tf.mean(this.tokenLosses(idx, targets, drop));
  }

  dispose(): void {
    for (const p of this.params) p.variable.dispose();
    for (const m of this.#masks.values()) m.dispose();
    this.#masks.clear();
  }
}
