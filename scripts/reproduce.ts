// `npm run reproduce -- <experimentId> [--from <ancestorId>] [--url http://localhost:8787]`: fetches
// an experiment's spec and results from a running edge, trains the spec here in Node
// (shared/train/loop.ts, TensorFlow.js CPU backend) on the same dataset files the browsers use (a
// registered dataset by SHA-256 from the edge), and
// prints JSON comparing the run with the verified value by shared/verify.ts's rule. A continuation
// (docs/lineage.md) is reproduced with its whole lineage: from the root's seed, each segment from
// the previous one's state here — or, with --from, from that ancestor's kept checkpoint,
// downloaded and checked against its hash. Every segment is compared. Exit code: 0 all agree (or
// nothing verified yet), 1 one disagrees, 2 could not run. Progress goes to stderr, stdout is JSON.
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { decodeCheckpoint } from '../shared/commit.ts';
import { sha256 } from '../shared/crypto.ts';
import { ancestry } from '../shared/lineage.ts';
import { decodeTokens, locateDataset, manifestHash } from '../shared/dataset.ts';
import { Id, lineageCheckpointPath, type ExperimentDetail } from '../shared/protocol.ts';
import { specHash } from '../shared/spec.ts';
import { trainExperiment, type TrainCheckpoint, type TrainData } from '../shared/train/loop.ts';
import { compareWithVerified } from './lib/reproduce-compare.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: 'http://localhost:8787' },
    from: { type: 'string' },
  },
});
const experimentId = positionals[0];
if (!experimentId || !Id.safeParse(experimentId).success) {
  console.error(
    'usage: npm run reproduce -- <experimentId> [--from <ancestorId>] [--url http://localhost:8787]',
  );
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

async function experimentOf(id: string): Promise<ExperimentDetail> {
  const { experiment } = (await (await fetchOk(`/api/experiments/${id}`)).json()) as {
    experiment: ExperimentDetail;
  };
  if ((await specHash(experiment.spec)) !== experiment.specHash)
    throw new Error(`the spec of ${id} does not hash to its spec hash`);
  return experiment;
}

try {
  const target = await experimentOf(experimentId);
  // The segments to train: the lineage from its root (or after --from) down to the experiment.
  const chain = ancestry(target.lineage, experimentId);
  let first = 0;
  let resume: TrainCheckpoint | undefined;
  if (values.from) {
    const at = chain.findIndex((n) => n.id === values.from);
    if (at < 0) throw new Error(`${values.from} is not an ancestor of ${experimentId}`);
    const sha = chain[at]!.checkpointSha256;
    if (!sha || !chain[at]!.checkpointKept)
      throw new Error(`${values.from} has no kept checkpoint to start from`);
    const bytes = new Uint8Array(await (await fetchOk(lineageCheckpointPath(sha))).arrayBuffer());
    resume = { ...(await decodeCheckpoint(bytes, sha)).state, wallMs: 0 }; // throws on a mismatch
    console.error(`from ${values.from}'s checkpoint ${sha.slice(0, 12)}… (step ${resume.step})`);
    first = at + 1;
  }
  const segments = [];
  for (const node of chain.slice(first)) {
    const experiment = node.id === experimentId ? target : await experimentOf(node.id);
    const report = await reproduceOne(experiment, resume, (c) => (resume = c));
    segments.push(report);
  }
  const report = { ...segments.at(-1)!, lineage: segments.length > 1 ? segments : undefined };
  console.log(JSON.stringify(report, null, 2));
  process.exit(segments.some((r) => r.agrees === false) ? 1 : 0);
} catch (err) {
  console.error(`reproduce failed: ${(err as Error).message}`);
  process.exit(2);
}

/** Trains one experiment (from `resumeFrom` when it continues one) and compares it. */
async function reproduceOne(
  experiment: ExperimentDetail,
  resumeFrom: TrainCheckpoint | undefined,
  onFinal: (c: TrainCheckpoint) => void,
) {
  const spec = experiment.spec;
  // By hash from the edge (R2) for a registered dataset, else its static files (shared/dataset.ts).
  const { manifest, fileUrl } = await locateDataset(spec.dataset.id, (p) => fetch(base + p));
  if ((await manifestHash(manifest)) !== spec.dataset.sha256)
    throw new Error(`dataset ${spec.dataset.id} on ${base} is not the one the spec pins`);
  console.error(`dataset ${spec.dataset.id}: manifest ${spec.dataset.sha256.slice(0, 12)}…`);
  const data: TrainData = {
    manifest,
    train: decodeTokens(
      manifest,
      await fetchChecked(fileUrl(manifest.train), manifest.train.sha256),
    ),
    val: decodeTokens(manifest, await fetchChecked(fileUrl(manifest.val), manifest.val.sha256)),
  };

  await tf.setBackend('cpu');
  await tf.ready();
  console.error(
    `training ${experiment.id}: ${spec.train.steps} steps on tfjs ${tf.getBackend()} …`,
  );
  const every = Math.max(1, Math.round(spec.train.steps / 10));
  const out = await trainExperiment(spec, data, {
    resumeFrom,
    onCommit: async (c) => onFinal(c), // the last commit is the final state: the next segment's start
    onStep: (s) => {
      if (s.step % every === 0 || s.step === s.steps)
        console.error(
          `  step ${s.step}/${s.steps}  loss ${s.loss.toFixed(4)}  ${s.msPerStep.toFixed(0)} ms/step`,
        );
    },
  });
  if (out.stopped) throw new Error('training stopped early');
  return compareWithVerified(experiment, { ...out.metrics, backend: 'cpu' });
}
