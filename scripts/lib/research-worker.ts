// One training of the research campaign (scripts/research.ts), in its own process so that several
// run side by side, each on one WASM thread: the project's loop (shared/train/loop.ts) from the
// seed, from its parent's final checkpoint, or from its own last progress checkpoint after a kill.
//
//   node scripts/lib/research-worker.ts <job.json>   (written by scripts/research.ts)
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { decodeCheckpoint, encodeCheckpoint } from '../../shared/commit.ts';
import { specHash, type ExperimentSpec } from '../../shared/spec.ts';
import { trainExperiment, type TrainCheckpoint } from '../../shared/train/loop.ts';
import { loadData } from '../gpu/steps.ts';
import type { JobResult } from './research-plan.ts';

export interface WorkerJob {
  spec: ExperimentSpec;
  dataDir: string;
  parentCheckpoint: string | null; // the parent job's final checkpoint file
  progress: string; // this job's progress checkpoint file (resumed from when present)
  finalCheckpoint: string | null; // where to keep the final checkpoint, when a child may need it
  result: string; // where the JobResult goes
}

/** A checkpoint file: shared/commit.ts's blob, and the training time so far beside it. */
async function save(file: string, hash: string, c: TrainCheckpoint): Promise<string> {
  const { bytes, commitment } = await encodeCheckpoint(hash, c);
  await writeFile(`${file}.part`, bytes);
  await writeFile(`${file}.json`, JSON.stringify({ wallMs: c.wallMs }));
  await rename(`${file}.part`, file); // a kill mid-write leaves the previous checkpoint whole
  return commitment;
}

async function load(file: string, keepWall: boolean): Promise<TrainCheckpoint> {
  // A plain Uint8Array: a Buffer's slice() is a view of a shared pool, not the copy decode expects.
  const { state } = await decodeCheckpoint(new Uint8Array(await readFile(file)), null);
  const side = keepWall && existsSync(`${file}.json`);
  const wallMs = side
    ? (JSON.parse(await readFile(`${file}.json`, 'utf8')) as { wallMs: number }).wallMs
    : 0;
  return { ...state, wallMs };
}

const job = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as WorkerJob;
const hash = await specHash(job.spec);
setThreadsCount(1); // one thread a process: the campaign runs processes side by side
if (!(await tf.setBackend('wasm'))) throw new Error('the WASM backend does not start here');
const data = await loadData(job.dataDir);
const resumeFrom = existsSync(job.progress)
  ? await load(job.progress, true)
  : job.parentCheckpoint
    ? await load(job.parentCheckpoint, false)
    : undefined;
let final: TrainCheckpoint | undefined;
const out = await trainExperiment(job.spec, data, {
  resumeFrom,
  checkpointEveryMs: 60_000,
  onCheckpoint: async (c) => void (await save(job.progress, hash, c)),
  onCommit: job.finalCheckpoint ? async (c) => void (final = c) : undefined,
});
if (out.stopped) throw new Error('stopped');
const checkpointSha256 =
  job.finalCheckpoint && final ? await save(job.finalCheckpoint, hash, final) : null;
const result: JobResult = {
  valBpb: out.metrics.valBpb,
  valLoss: out.metrics.valLoss,
  wallMs: out.metrics.wallMs,
  checkpointSha256,
};
await writeFile(job.result, JSON.stringify(result));
// Finished: its progress checkpoint (10 MB for nanogpt-cpu) is no longer needed to resume.
await rm(job.progress, { force: true });
await rm(`${job.progress}.json`, { force: true });
