// `npm run reproduce -- <experimentId> [--url http://localhost:8787]`: fetches an experiment's spec
// and results from a running edge, trains the spec here in Node (shared/train/loop.ts, TensorFlow.js
// CPU backend) on the same dataset files the browsers use, and prints JSON comparing the run with
// the verified value by shared/verify.ts's rule. Exit code: 0 agrees (or nothing verified yet),
// 1 disagrees, 2 could not run. Progress goes to stderr, so stdout is only the JSON.
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { sha256 } from '../shared/crypto.ts';
import { DatasetManifest, datasetUrl, decodeTokens, manifestHash } from '../shared/dataset.ts';
import { Id, type ExperimentDetail } from '../shared/protocol.ts';
import { specHash } from '../shared/spec.ts';
import { trainExperiment, type TrainData } from '../shared/train/loop.ts';
import { compareWithVerified } from './lib/reproduce-compare.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { url: { type: 'string', default: 'http://localhost:8787' } },
});
const experimentId = positionals[0];
if (!experimentId || !Id.safeParse(experimentId).success) {
  console.error('usage: npm run reproduce -- <experimentId> [--url http://localhost:8787]');
  process.exit(2);
}
const base = values.url.replace(/\/+$/, '');

async function fetchOk(path: string): Promise<Response> {
  const res = await fetch(base + path);
  if (!res.ok)
    throw new Error(
      `GET ${base}${path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`,
    );
  return res;
}

async function fetchChecked(path: string, expected: string): Promise<ArrayBuffer> {
  const bytes = new Uint8Array(await (await fetchOk(path)).arrayBuffer());
  if ((await sha256(bytes)) !== expected)
    throw new Error(`${path} does not match its SHA-256 in the manifest`);
  return bytes.buffer;
}

try {
  const { experiment } = (await (await fetchOk(`/api/experiments/${experimentId}`)).json()) as {
    experiment: ExperimentDetail;
  };
  const spec = experiment.spec;
  if ((await specHash(spec)) !== experiment.specHash)
    throw new Error('the spec does not hash to the experiment’s spec hash');
  const manifest = DatasetManifest.parse(
    await (await fetchOk(datasetUrl(spec.dataset.id, 'manifest.json'))).json(),
  );
  if ((await manifestHash(manifest)) !== spec.dataset.sha256)
    throw new Error(`dataset ${spec.dataset.id} on ${base} is not the one the spec pins`);
  const data: TrainData = {
    manifest,
    train: decodeTokens(
      manifest,
      await fetchChecked(datasetUrl(spec.dataset.id, manifest.train.file), manifest.train.sha256),
    ),
    val: decodeTokens(
      manifest,
      await fetchChecked(datasetUrl(spec.dataset.id, manifest.val.file), manifest.val.sha256),
    ),
  };

  await tf.setBackend('cpu');
  await tf.ready();
  console.error(`training ${experimentId}: ${spec.train.steps} steps on tfjs ${tf.getBackend()} …`);
  const every = Math.max(1, Math.round(spec.train.steps / 10));
  const out = await trainExperiment(spec, data, {
    onStep: (s) => {
      if (s.step % every === 0 || s.step === s.steps)
        console.error(
          `  step ${s.step}/${s.steps}  loss ${s.loss.toFixed(4)}  ${s.msPerStep.toFixed(0)} ms/step`,
        );
    },
  });
  if (out.stopped) throw new Error('training stopped early');
  const report = compareWithVerified(experiment, { ...out.metrics, backend: 'cpu' });
  console.log(JSON.stringify(report, null, 2));
  process.exit(report.agrees === false ? 1 : 0);
} catch (err) {
  console.error(`reproduce failed: ${(err as Error).message}`);
  process.exit(2);
}
