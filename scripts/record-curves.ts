// `npm run record:curves`: the learning curves bench:search replays (docs/strategies.md). Samples
// a brief's configurations with the campaign sampler and trains each with the project's own loop
// (TensorFlow.js CPU backend in Node) as ASHA's rungs would — 30, then continued to 90, then to 270
// steps, each segment from the previous one's checkpoint (bit-identical to one run:
// shared/train/loop.test.ts) — and writes every configuration's val_bpb at every rung to
// scripts/data/asha-curves.json. Deterministic: the same brief gives the same table.
import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rungSteps } from '../shared/asha.ts';
import { decodeTokens } from '../shared/dataset.ts';
import { continuationSpec } from '../shared/lineage.ts';
import { CampaignBrief, sampleExperiments } from '../shared/search-space.ts';
import { trainingFlops } from '../shared/spec.ts';
import { trainExperiment, type TrainCheckpoint, type TrainData } from '../shared/train/loop.ts';
import { ensureDataset } from '../datasets/build.ts';
import { ROOT } from './lib/wrangler.ts';

export const CURVES_BRIEF = CampaignBrief.parse({
  name: 'Recorded curves',
  brief: 'Learning rate, batch size and beta2 for a tiny GPT on State of the Union addresses.',
  template: 'gpt-char',
  datasetId: 'sotu',
  searchSpace: {
    lr: { kind: 'log-uniform', min: 2e-4, max: 5e-2 },
    batchSize: { kind: 'choice', values: [4, 8, 16] },
    beta2: { kind: 'choice', values: [0.9, 0.95, 0.99] },
    weightDecay: { kind: 'uniform', min: 0, max: 0.2 },
    nLayer: { kind: 'fixed', value: 1 },
    nEmbd: { kind: 'fixed', value: 32 },
    nHead: { kind: 'fixed', value: 2 },
    blockSize: { kind: 'fixed', value: 32 },
  },
  experiments: 27,
  steps: 30,
  seed: 20261206,
  strategy: { kind: 'asha', eta: 3, maxSteps: 270 },
});

const log = (line: string) => process.stderr.write(`${line}\n`);
const { manifest, manifestSha256, dir } = await ensureDataset('sotu', { log });
const read = (file: string) => decodeTokens(manifest, readFileSync(join(dir, file)).buffer);
const data: TrainData = {
  manifest,
  train: read(manifest.train.file),
  val: read(manifest.val.file),
};
await tf.setBackend('cpu');
const specs = sampleExperiments(CURVES_BRIEF, {
  ref: { id: 'sotu', sha256: manifestSha256 },
  vocabSize: manifest.vocab.length,
});
const rungs = rungSteps(
  CURVES_BRIEF.steps,
  CURVES_BRIEF.strategy as { eta: number; maxSteps: number },
);
const configs = [];
for (const [i, root] of specs.entries()) {
  let spec = root;
  let resumeFrom: TrainCheckpoint | undefined;
  const valBpb: number[] = [];
  const flops: number[] = [];
  for (let k = 0; k < rungs.length; k++) {
    let final: TrainCheckpoint | undefined;
    const out = await trainExperiment(spec, data, {
      resumeFrom,
      onCommit: async (c) => void (final = c),
    });
    if (out.stopped) throw new Error('stopped');
    valBpb.push(Number(out.metrics.valBpb.toFixed(6)));
    flops.push(trainingFlops(spec));
    resumeFrom = final;
    if (k + 1 < rungs.length)
      spec = continuationSpec(spec, `c${i}-r${k}`, '0'.repeat(64), {
        steps: rungs[k + 1]! - rungs[k]!,
      });
  }
  log(
    `config ${i + 1}/${specs.length}: lr ${root.train.lr} batch ${root.train.batchSize} → ${valBpb.join(' → ')}`,
  );
  configs.push({
    lr: root.train.lr,
    batchSize: root.train.batchSize,
    beta2: root.train.beta2,
    weightDecay: root.train.weightDecay,
    valBpb,
    flops,
  });
}
const table = { brief: CURVES_BRIEF, rungs, backend: 'tfjs-cpu (Node)', configs };
const { format } = await import('prettier'); // as `npm run format` would leave it
writeFileSync(
  join(ROOT, 'scripts', 'data', 'asha-curves.json'),
  await format(JSON.stringify(table), { parser: 'json' }),
);
log(
  `wrote scripts/data/asha-curves.json (${configs.length} configurations × ${rungs.length} rungs)`,
);
