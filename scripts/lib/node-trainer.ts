// The project's own training loop in Node for the search benchmarks (record:curves, bench:search's
// PBT): a built-in dataset's tokens and the TensorFlow.js WASM backend, which trains these small
// models ~15× faster than the CPU backend on this machine with the same val_bpb to 1e-6
// (docs/strategies.md).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeTokens } from '../../shared/dataset.ts';
import type { TrainData } from '../../shared/train/loop.ts';
import { ensureDataset, type DatasetId } from '../../datasets/build.ts';

export interface NodeTrainer {
  data: TrainData;
  manifestSha256: string;
  vocabSize: number;
}

/** Builds the dataset if needed, reads its tokens and starts `backend` (wasm or cpu). */
export async function nodeTrainer(datasetId: string, backend = 'wasm'): Promise<NodeTrainer> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const { manifest, manifestSha256, dir } = await ensureDataset(datasetId as DatasetId, { log });
  const read = (f: string) => decodeTokens(manifest, readFileSync(join(dir, f)).buffer);
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend} backend here`);
  await tf.ready();
  return {
    data: { manifest, train: read(manifest.train.file), val: read(manifest.val.file) },
    manifestSha256,
    vocabSize: manifest.vocab.length,
  };
}
