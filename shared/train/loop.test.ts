// The training loop on TensorFlow.js's CPU backend in Node: it learns, it is deterministic, it
// resumes exactly from a checkpoint, and it leaks no tensors across steps or experiments.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sotuSlice } from '../../datasets/build.ts';
import { PRESETS } from '../model/presets.ts';
import { continuationIssue, specHash, type ExperimentSpec } from '../spec.ts';
import { continuationSpec, segmentRoot } from '../lineage.ts';
import { learningRate } from './adamw.ts';
import {
  checkpointCommitment,
  commitSteps,
  decodeCheckpoint,
  encodeCheckpoint,
} from '../commit.ts';
import { trainExperiment, trainSegment, type TrainCheckpoint, type TrainData } from './loop.ts';

let data: TrainData;

function tinySpec(
  overrides: Partial<ExperimentSpec['train']> = {},
  seed = 7,
  dropout = 0,
): ExperimentSpec {
  const p = PRESETS.tiny;
  return {
    template: 'gpt-char',
    dataset: { id: data.manifest.id, sha256: '0'.repeat(64) },
    model: { ...p.model, dropout, vocabSize: data.manifest.vocab.length },
    train: { ...p.train, ...overrides },
    seed,
    evalWindows: p.evalWindows,
  };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  data = await sotuSlice();
});

describe('learning rate schedule', () => {
  it('warms up linearly, then decays by a cosine to minLr', () => {
    const cfg = { ...PRESETS['nanogpt-cpu'].train };
    expect(learningRate(0, cfg)).toBeCloseTo(1e-3 / 101, 12);
    expect(learningRate(99, cfg)).toBeCloseTo(1e-3 * (100 / 101), 12);
    expect(learningRate(100, cfg)).toBeCloseTo(1e-3, 12);
    expect(learningRate(1050, cfg)).toBeCloseTo(1e-4 + 0.5 * 0.9e-3, 9);
    expect(learningRate(2000, cfg)).toBe(1e-4);
  });
});

describe('trainExperiment', () => {
  it('learns: the loss falls from ln(V) and val_bpb is finite and plausible', async () => {
    const spec = tinySpec({ steps: 60, curveEvery: 20 });
    const losses: number[] = [];
    const out = await trainExperiment(spec, data, { onStep: (s) => void losses.push(s.loss) });
    expect(out.stopped).toBe(false);
    if (out.stopped) return;
    expect(losses[0]).toBeCloseTo(Math.log(spec.model.vocabSize), 0);
    expect(out.metrics.curve).toHaveLength(3);
    expect(out.metrics.curve[2]!).toBeLessThan(out.metrics.curve[0]! - 0.3);
    expect(out.metrics.valBpb).toBeGreaterThan(1);
    expect(out.metrics.valBpb).toBeLessThan(Math.log2(spec.model.vocabSize) + 0.5);
    expect(out.metrics.valBpb).toBeCloseTo(out.metrics.valLoss / Math.LN2, 6); // ASCII: 1 byte per token
    expect(out.metrics.tokens).toBe(60 * spec.train.batchSize * spec.model.blockSize);
  });

  it('is deterministic: the same spec gives bit-identical losses; another seed does not', async () => {
    const run = async (seed: number) => {
      const losses: number[] = [];
      await trainExperiment(tinySpec({ steps: 8 }, seed, 0.1), data, {
        onStep: (s) => void losses.push(s.loss),
      });
      return losses;
    };
    const a = await run(3);
    expect(await run(3)).toEqual(a);
    expect(await run(4)).not.toEqual(a);
  });

  it('resumes from a checkpoint to exactly the result of an uninterrupted run', async () => {
    const spec = tinySpec({ steps: 20, curveEvery: 5 }, 11, 0.1);
    const full = await trainExperiment(spec, data);
    let saved: TrainCheckpoint | undefined;
    let n = 0;
    const first = await trainExperiment(spec, data, {
      onStep: () => void n++,
      shouldStop: () => n >= 9,
      onCheckpoint: async (c) => void (saved = c),
    });
    expect(first.stopped).toBe(true);
    expect(saved?.step).toBe(9);
    const resumed = await trainExperiment(spec, data, { resumeFrom: saved });
    expect(full.stopped || resumed.stopped).toBe(false);
    if (full.stopped || resumed.stopped) return;
    expect(resumed.metrics.curve).toEqual(full.metrics.curve);
    expect(resumed.metrics.valBpb).toBe(full.metrics.valBpb);
  });

  it('commits to its state at the commit steps, and a spot check retrains a segment to the same segment means', async () => {
    const spec = tinySpec({ steps: 20, curveEvery: 5 }, 13);
    const committed: TrainCheckpoint[] = [];
    const full = await trainExperiment(spec, data, {
      onCommit: async (c) => void committed.push(c),
    });
    if (full.stopped) throw new Error('not stopped');
    expect(committed.map((c) => c.step)).toEqual(commitSteps(spec.train));
    // Commitments are reproducible from the same state, and differ between states.
    const hashes = await Promise.all(committed.map((c) => checkpointCommitment('a'.repeat(64), c)));
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(await checkpointCommitment('a'.repeat(64), committed[1]!)).toBe(hashes[1]);
    // From the seed: the first segment; from a committed checkpoint: the next two.
    expect(await trainSegment(spec, data, 5)).toEqual(full.metrics.curve.slice(0, 1));
    expect(await trainSegment(spec, data, 15, { resumeFrom: committed[0] })).toEqual(
      full.metrics.curve.slice(1, 3),
    );
    await expect(trainSegment(spec, data, 12, { resumeFrom: committed[0] })).resolves.toHaveLength(
      2,
    );
    await expect(trainSegment(spec, data, 5, { resumeFrom: committed[1] })).rejects.toThrow(
      /segment/,
    );
  });

  it('keeps the tensor count flat across steps and experiments', async () => {
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      await trainExperiment(tinySpec({ steps: 6 }), data, {
        onStep: () => void counts.push(tf.memory().numTensors),
      });
    }
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('lineage: a chain of segments equals one run', () => {
  it('three segments, each continued from the previous one’s final checkpoint bytes, give the uninterrupted run bit for bit', async () => {
    const run = tinySpec({ steps: 30, curveEvery: 5, warmupSteps: 4 }, 17, 0.1);
    const full = await trainExperiment(run, data);
    if (full.stopped) throw new Error('not stopped');
    let spec = segmentRoot(run, 10);
    let parentState: Promise<TrainCheckpoint> | undefined;
    const curve: number[] = [];
    let last: { valBpb: number } | undefined;
    for (let k = 0; k < 3; k++) {
      let final: TrainCheckpoint | undefined;
      const out = await trainExperiment(spec, data, {
        resumeFrom: await parentState,
        onCommit: async (c) => void (final = c),
      });
      if (out.stopped || !final) throw new Error('not stopped');
      expect(final.step).toBe(10 * (k + 1));
      expect(out.metrics.steps).toBe(10);
      curve.push(...out.metrics.curve);
      last = out.metrics;
      // What the next segment's volunteer gets: the blob, checked against its hash.
      const specId = await specHash(spec);
      const { bytes, commitment } = await encodeCheckpoint(specId, final);
      parentState = decodeCheckpoint(bytes, commitment).then(({ state }) => ({
        ...state,
        wallMs: 0,
      }));
      spec = continuationSpec(spec, `x-${k}`, commitment);
      expect(spec.parent?.step).toBe(10 * (k + 1));
    }
    expect(curve).toEqual(full.metrics.curve);
    expect(last!.valBpb).toBe(full.metrics.valBpb);
  });

  it('refuses to continue without the parent’s checkpoint', async () => {
    const root = segmentRoot(tinySpec({ steps: 20, curveEvery: 5 }), 10);
    const child = continuationSpec(root, 'x', 'a'.repeat(64));
    await expect(trainExperiment(child, data)).rejects.toThrow(/parent's checkpoint at step 10/);
  });

  it('says what a continuation may not change', () => {
    const root = segmentRoot(tinySpec({ steps: 20, curveEvery: 5 }), 10);
    const ok = continuationSpec(root, 'x', 'a'.repeat(64), { lr: 1e-4, batchSize: 8, beta2: 0.95 });
    expect(continuationIssue(root, ok)).toBeNull();
    const wider = { ...ok, model: { ...ok.model, nEmbd: 64 } };
    expect(continuationIssue(root, wider)?.path).toBe('model');
    expect(continuationIssue(root, { ...ok, train: { ...ok.train, beta1: 0.8 } })?.path).toBe(
      'train.beta1',
    );
    expect(continuationIssue(root, { ...ok, seed: 99 })?.path).toBe('seed');
    expect(continuationIssue(root, { ...ok, parent: { ...ok.parent!, step: 5 } })?.path).toBe(
      'parent.step',
    );
  });
});
