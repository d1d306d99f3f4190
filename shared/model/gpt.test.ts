// The model's building blocks against TensorFlow.js's own ops: the explicit-transpose matmul has
// the same gradients as tf.matMul, and the GPT has nanoGPT's parameter count and shapes.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { parameterCount, type ModelConfig } from '../spec.ts';
import { gelu, gmm, gmmBatched, gmmDepthwise, GPT, matmul } from './gpt.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.max(tf.abs(tf.sub(a, b)));
  const v = (await d.data())[0]!;
  d.dispose();
  return v;
}

/** Value and gradients of sum(op(a, b) · w) under `op` and under the reference `ref`. */
async function compareBinary(
  op: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  ref: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  a: tf.Tensor,
  b: tf.Tensor,
): Promise<{ value: number; ga: number; gb: number }> {
  const w = tf.randomNormal(ref(a, b).shape, 0, 1, 'float32', 3);
  const f = (mm: typeof op) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(mm(x, y), w));
  const [ga, gb] = tf.grads(f(op))([a, b]);
  const [ra, rb] = tf.grads(f(ref))([a, b]);
  const out = {
    value: await maxAbsDiff(op(a, b), ref(a, b)),
    ga: await maxAbsDiff(ga!, ra!),
    gb: await maxAbsDiff(gb!, rb!),
  };
  tf.dispose([w, ga!, gb!, ra!, rb!]);
  return out;
}

describe('matmul', () => {
  it('has the value and gradients of tf.matMul', async () => {
    const a = tf.randomNormal([5, 7], 0, 1, 'float32', 1);
    const b = tf.randomNormal([7, 3], 0, 1, 'float32', 2);
    const d = await compareBinary(
      matmul,
      (x, y) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D),
      a,
      b,
    );
    expect(Math.max(d.value, d.ga, d.gb)).toBeLessThan(1e-5);
    tf.dispose([a, b]);
  });
});

describe('gmm (grouped matmul)', () => {
  // out[m, g, n] = Σ_k x[m, k, g] · f[k, g, n], written as a batched matMul over g.
  const reference = (x: tf.Tensor, f: tf.Tensor) =>
    tf.transpose(
      tf.matMul(
        tf.transpose(x, [2, 0, 1]) as tf.Tensor3D,
        tf.transpose(f, [1, 0, 2]) as tf.Tensor3D,
      ),
      [1, 0, 2],
    );
  const [M, K, G, N] = [6, 5, 4, 3];

  it.each([
    ['depthwise convolution (WASM)', gmmDepthwise],
    ['batched matMul (elsewhere)', gmmBatched],
    ['backend choice', gmm],
  ])('%s: same value and gradients as per-group matMuls', async (_, op) => {
    const x = tf.randomNormal([M, K, G], 0, 1, 'float32', 4);
    const f = tf.randomNormal([K, G, N], 0, 1, 'float32', 5);
    expect(op(x, f).shape).toEqual([M, G, N]);
    const d = await compareBinary(op, reference, x, f);
    expect(Math.max(d.value, d.ga, d.gb)).toBeLessThan(1e-5);
    // and group g really is x[:, :, g] @ f[:, g, :]
    const g = 2;
    const direct = tf.matMul(
      tf.squeeze(tf.slice(x, [0, 0, g], [M, K, 1]), [2]) as tf.Tensor2D,
      tf.squeeze(tf.slice(f, [0, g, 0], [K, 1, N]), [1]) as tf.Tensor2D,
    );
    expect(
      await maxAbsDiff(tf.squeeze(tf.slice(op(x, f), [0, g, 0], [M, 1, N]), [1]), direct),
    ).toBeLessThan(1e-5);
    tf.dispose([x, f]);
  });
});

describe('gelu', () => {
  const tanhGelu = (x: tf.Tensor) =>
    tf.mul(
      tf.mul(0.5, x),
      tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
    );

  it("is GPT-2's tanh approximation, with its gradient", async () => {
    const x = tf.linspace(-8, 8, 101);
    expect(await maxAbsDiff(gelu(x), tanhGelu(x))).toBeLessThan(1e-5);
    expect(await maxAbsDiff(tf.grad(gelu)(x), tf.grad(tanhGelu)(x))).toBeLessThan(1e-5);
    tf.dispose(x);
  });
});

describe('GPT', () => {
  const config: ModelConfig = {
    nLayer: 2,
    nHead: 2,
    nEmbd: 16,
    blockSize: 8,
    vocabSize: 11,
    bias: true,
    dropout: 0,
  };

  it('has exactly the parameters nanoGPT counts, in a weight-tied model', () => {
    const model = new GPT(config, 1);
    const total = model.params.reduce((n, p) => n + p.variable.size, 0);
    expect(total).toBe(parameterCount(config));
    expect(model.params.filter((p) => p.decay).every((p) => p.variable.rank === 2)).toBe(true);
    model.dispose();
  });

  it('is causal: changing a later token leaves earlier logits unchanged', async () => {
    const model = new GPT(config, 1);
    const a = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]], [1, 8], 'int32');
    const b = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 0]], [1, 8], 'int32');
    const la = model.forward(a, null);
    const lb = model.forward(b, null);
    const early = await maxAbsDiff(tf.slice(la, [0, 0], [7, 11]), tf.slice(lb, [0, 0], [7, 11]));
    const last = await maxAbsDiff(tf.slice(la, [7, 0], [1, 11]), tf.slice(lb, [7, 0], [1, 11]));
    expect(early).toBe(0);
    expect(last).toBeGreaterThan(0);
    tf.dispose([a, b, la, lb]);
    model.dispose();
  });

  /** nanoGPT's forward transcribed with plain tf ops (batched matMul attention, tanh GELU). */
  function referenceLogits(model: GPT, idx: tf.Tensor2D): tf.Tensor {
    const w = Object.fromEntries(model.params.map((p) => [p.name, p.variable as tf.Tensor]));
    const { nLayer, nHead: nh, nEmbd: C, vocabSize: V } = config;
    const [B, T] = idx.shape;
    const hs = C / nh;
    const ln = (x: tf.Tensor, name: string) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(
        tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), w[`${name}.weight`]!),
        w[`${name}.bias`]!,
      );
    };
    const lin = (x: tf.Tensor, name: string) =>
      tf.add(tf.matMul(x as tf.Tensor3D, w[`${name}.weight`]! as tf.Tensor3D), w[`${name}.bias`]!);
    const heads = (t: tf.Tensor) =>
      tf.transpose(tf.reshape(t, [B, T, nh, hs]), [0, 2, 1, 3]) as tf.Tensor4D; // (B, nh, T, hs)
    const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0);
    let x = tf.add(tf.gather(w['wte']!, idx), tf.slice(w['wpe']!, [0, 0], [T, C]));
    for (let i = 0; i < nLayer; i++) {
      const [q, k, v] = tf
        .split(lin(ln(x, `h.${i}.ln_1`), `h.${i}.attn.c_attn`), 3, 2)
        .map(heads) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(hs));
      const att = tf.softmax(
        tf.where(tf.equal(causal, 1), scores, tf.fill(scores.shape, -Infinity)),
      );
      const y = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B, T, C]);
      x = tf.add(x, lin(y, `h.${i}.attn.c_proj`));
      const h = lin(ln(x, `h.${i}.ln_2`), `h.${i}.mlp.c_fc`);
      const g = tf.mul(
        tf.mul(0.5, h),
        tf.add(
          1,
          tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(h, tf.mul(0.044715, tf.pow(h, 3))))),
        ),
      );
      x = tf.add(x, lin(g, `h.${i}.mlp.c_proj`));
    }
    return tf.reshape(
      tf.matMul(ln(x, 'ln_f') as tf.Tensor3D, tf.transpose(w['wte']!) as unknown as tf.Tensor3D),
      [B * T, V],
    );
  }

  it("computes nanoGPT's forward pass (against a direct transcription)", async () => {
    const model = new GPT(config, 2);
    // LayerNorm weights and biases start at 1 and 0: perturb them so that a mix-up would show.
    tf.tidy(() =>
      model.params
        .filter((p) => !p.decay)
        .forEach((p, i) =>
          p.variable.assign(tf.randomNormal(p.variable.shape, 1, 0.3, 'float32', 10 + i)),
        ),
    );
    const idx = tf.tensor2d(
      [
        [1, 2, 3, 4, 5, 6, 7, 8],
        [0, 10, 9, 3, 3, 1, 2, 4],
        [5, 5, 5, 5, 6, 6, 6, 6],
      ],
      [3, 8],
      'int32',
    );
    const ours = model.forward(idx, null);
    const ref = referenceLogits(model, idx);
    expect(ours.shape).toEqual([24, 11]);
    expect(await maxAbsDiff(ours, ref)).toBeLessThan(1e-5);
    tf.dispose([idx, ours, ref]);
    model.dispose();
  });

  it('draws the same initial weights from the same seed, and others from another', async () => {
    const first = async (seed: number) => {
      const m = new GPT(config, seed);
      const w = Array.from(await m.params[0]!.variable.data());
      m.dispose();
      return w;
    };
    expect(await first(5)).toEqual(await first(5));
    expect(await first(5)).not.toEqual(await first(6));
  });
});

describe('on the WASM backend (XNNPACK paths: depthwise gmm, 2-D matmuls)', () => {
  const config: ModelConfig = {
    nLayer: 2,
    nHead: 4,
    nEmbd: 32,
    blockSize: 16,
    vocabSize: 13,
    bias: false,
    dropout: 0,
  };

  /** Loss and flattened gradients of one batch on a backend, from the same seed. */
  async function lossAndGrads(backend: string): Promise<{ loss: number; grads: Float32Array[] }> {
    await tf.setBackend(backend);
    const model = new GPT(config, 9);
    const ids = Array.from({ length: 3 * 17 }, (_, i) => (i * 7 + 3) % 13);
    const x = tf.tensor2d(
      ids.filter((_, i) => i % 17 !== 16),
      [3, 16],
      'int32',
    );
    const y = tf.tensor2d(
      ids.filter((_, i) => i % 17 !== 0),
      [3, 16],
      'int32',
    );
    const vars = model.params.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(() => model.loss(x, y, null), vars);
    const out = {
      loss: (await value.data())[0]!,
      grads: await Promise.all(
        vars.map(async (v) => (await grads[v.name]!.data()) as Float32Array),
      ),
    };
    tf.dispose([x, y, value, ...Object.values(grads)]);
    model.dispose();
    return out;
  }

  it('gives the loss and gradients of the CPU backend', async () => {
    const wasm = await lossAndGrads('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const cpu = await lossAndGrads('cpu');
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-5);
    const worst = Math.max(
      ...wasm.grads.flatMap((g, i) => Array.from(g, (v, j) => Math.abs(v - cpu.grads[i]![j]!))),
    );
    expect(worst).toBeLessThan(1e-5);
  });
});
