// nanoGPT's GPT in TensorFlow.js, in nanoGPT's order: config → ops → attention → MLP → block → GPT
// → loss. Written so that every tfjs backend can train it (webgpu, wasm, webgl, cpu):
// - embeddings are one-hot × matrix, because WASM has no UnsortedSegmentSum for gather's gradient;
// - every matmul goes through `matmul` below, whose backward uses explicit transposes and plain
//   matMuls, the only form WASM runs on XNNPACK (PITFALLS: 4–6× faster steps, identical losses);
// - initial weights are drawn on the CPU from the spec's seeded RNG, so step 0 is identical everywhere.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng.ts';
import type { ModelConfig } from '../spec.ts';

// ---------------------------------------------------------------------------------------------
// Ops every backend can differentiate quickly

/** a @ b, with a backward pass made of plain (untransposed) matMuls. Rank 2, or rank 3 batched. */
export const matmul = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  const t = (x: tf.Tensor) => (x.rank === 2 ? tf.transpose(x) : tf.transpose(x, [0, 2, 1]));
  return {
    value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      return [tf.matMul(dy as tf.Tensor3D, t(sb) as tf.Tensor3D), tf.matMul(t(sa) as tf.Tensor3D, dy as tf.Tensor3D)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** GELU, tanh approximation (GPT-2's; tfjs has no GELU op). */
function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

/** LayerNorm over the last axis with optional bias (nanoGPT's LayerNorm, eps 1e-5). */
function layerNorm(x: tf.Tensor, weight: tf.Variable, bias: tf.Variable | null): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const y = tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), weight);
  return bias ? tf.add(y, bias) : y;
}

/** x (…, in) @ W (in, out) + b, flattened to 2-D for the matmul. */
function linear(x: tf.Tensor, w: tf.Variable, b: tf.Variable | null): tf.Tensor {
  const shape = x.shape;
  const y = matmul(tf.reshape(x, [-1, shape[shape.length - 1]!]), w);
  const out = b ? tf.add(y, b) : y;
  return tf.reshape(out, [...shape.slice(0, -1), w.shape[1]!]);
}

/** Applies dropout with a fresh seed per call (a fixed seed would repeat one mask: PITFALLS). */
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
    init.dispose(); // tf.variable copies its initial value (PITFALLS)
    this.list.push({ name, variable, decay });
    return variable;
  }
  normal(name: string, shape: number[], std: number): tf.Variable {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = this.#rng.normal() * std;
    return this.#add(name, shape, values, true);
  }
  constant(name: string, shape: number[], value: number): tf.Variable {
    return this.#add(name, shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), false);
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
  readonly #masks = new Map<number, tf.Tensor2D>(); // T → causal mask (T, T): 0 or -1e9

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

  #mask(T: number): tf.Tensor2D {
    let m = this.#masks.get(T);
    if (!m) {
      const values = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = -1e9;
      m = tf.keep(tf.tensor2d(values, [T, T])); // made inside a step's tidy, kept for all steps
      this.#masks.set(T, m);
    }
    return m;
  }

  /** Causal self-attention. x: (B, T, C) → (B, T, C). */
  #attention(x: tf.Tensor, b: BlockParams, drop: Dropout | null): tf.Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const nh = this.config.nHead;
    const hs = C / nh;
    const qkv = linear(x, b.attnW, b.attnB); // (B, T, 3C)
    const heads = (t: tf.Tensor) =>
      tf.reshape(tf.transpose(tf.reshape(t, [B, T, nh, hs]), [0, 2, 1, 3]), [B * nh, T, hs]); // (B·nh, T, hs)
    const [q, k, v] = tf.split(qkv, 3, 2).map(heads) as [tf.Tensor, tf.Tensor, tf.Tensor];
    let att = tf.mul(matmul(q, tf.transpose(k, [0, 2, 1])), 1 / Math.sqrt(hs)); // (B·nh, T, T)
    att = tf.softmax(tf.add(att, this.#mask(T)));
    if (drop) att = drop(att);
    const y = matmul(att, v); // (B·nh, T, hs)
    const merged = tf.reshape(tf.transpose(tf.reshape(y, [B, nh, T, hs]), [0, 2, 1, 3]), [B, T, C]); // (B, T, C)
    const out = linear(merged, b.projW, b.projB);
    return drop ? drop(out) : out;
  }

  /** MLP: C → 4C → GELU → C. x: (B, T, C) → (B, T, C). */
  #mlp(x: tf.Tensor, b: BlockParams, drop: Dropout | null): tf.Tensor {
    const out = linear(gelu(linear(x, b.fcW, b.fcB)), b.fcProjW, b.fcProjB);
    return drop ? drop(out) : out;
  }

  /** idx: (B, T) int32 token ids → logits (B·T, V). `drop` is null when not training. */
  forward(idx: tf.Tensor2D, drop: Dropout | null): tf.Tensor2D {
    const [B, T] = idx.shape;
    const { vocabSize: V, nEmbd: C, blockSize } = this.config;
    if (T > blockSize) throw new Error(`sequence of length ${T} exceeds the block size ${blockSize}`);
    const oneHot = tf.cast(tf.oneHot(tf.reshape(idx, [-1]), V), 'float32'); // (B·T, V); cast: PITFALLS
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

  /** Cross-entropy per target token in nats: (B·T). targets: (B, T) int32. */
  tokenLosses(idx: tf.Tensor2D, targets: tf.Tensor2D, drop: Dropout | null): tf.Tensor1D {
    const logits = this.forward(idx, drop);
    const logp = tf.logSoftmax(logits); // (B·T, V)
    // One-hot × log-probabilities instead of gather, whose gradient WASM lacks (PITFALLS).
    const oneHot = tf.cast(tf.oneHot(tf.reshape(targets, [-1]), this.config.vocabSize), 'float32');
    return tf.neg(tf.sum(tf.mul(oneHot, logp), -1));
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
