// The model's building blocks against TensorFlow.js's own ops: the explicit-transpose matmul has
// the same gradients as tf.matMul, and the GPT has nanoGPT's parameter count and shapes.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parameterCount, type ModelConfig } from '../spec.ts';
import { GPT, matmul } from './gpt.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.max(tf.abs(tf.sub(a, b)));
  const v = (await d.data())[0]!;
  d.dispose();
  return v;
}

describe('matmul', () => {
  it.each([
    ['2-D', [5, 7], [7, 3]],
    ['batched 3-D', [4, 5, 7], [4, 7, 3]],
  ])('%s: same value and gradients as tf.matMul', async (_, sa, sb) => {
    const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
    const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
    const w = tf.randomNormal([...sa.slice(0, -1), sb[sb.length - 1]!], 0, 1, 'float32', 3);
    const f = (mm: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(mm(x, y), w));
    const ours = tf.grads(f(matmul));
    const ref = tf.grads(f((x, y) => tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D)));
    const [ga, gb] = ours([a, b]);
    const [ra, rb] = ref([a, b]);
    expect(await maxAbsDiff(matmul(a, b), tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D))).toBeLessThan(1e-5);
    expect(await maxAbsDiff(ga!, ra!)).toBeLessThan(1e-5);
    expect(await maxAbsDiff(gb!, rb!)).toBeLessThan(1e-5);
    tf.dispose([a, b, w, ga!, gb!, ra!, rb!]);
  });
});

describe('GPT', () => {
  const config: ModelConfig = { nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 11, bias: true, dropout: 0 };

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
