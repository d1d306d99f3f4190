// `npm run research`: an ASHA campaign over scripts/data/research-brief.json on TinyShakespeare
// at nanoGPT's CPU budget, trained with the project's own loop in Node on WASM, then the
// configuration it found and nanoGPT's default recipe, each over the same seeds for the full
// budget, val_bpb on the 256 pinned windows (README "Research result"). Every finished training
// is saved to .tmp-research/; `--resume` continues a killed run, each training from its last
// minute's checkpoint.
//
//   npm run research -- --json [--configs N] [--seeds 5] [--workers 2] [--resume] [--steps-scale 0.05] [--report]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDataset } from '../datasets/build.ts';
import { researchPlan, runnableJobs, type Job, type JobResult } from './lib/research-plan.ts';
import { researchSummary, summaryTable } from './lib/research-summary.ts';
import type { WorkerJob } from './lib/research-worker.ts';
import { ROOT } from './lib/wrangler.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    configs: { type: 'string' },
    seeds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '1' },
    resume: { type: 'boolean', default: false },
    report: { type: 'boolean', default: false },
    'steps-scale': { type: 'string', default: '1' },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const briefRaw = JSON.parse(
  readFileSync(join(ROOT, 'scripts', 'data', 'research-brief.json'), 'utf8'),
) as { experiments: number };
const stepsScale = Number(args['steps-scale']);
const workers = Number(args.workers);
const opts = {
  configs: Number(args.configs ?? briefRaw.experiments),
  // nanoGPT seeds its runs 1337 + k (scripts/reference/nanogpt_seeds.py): the same labels here.
  seeds: Array.from({ length: Number(args.seeds) }, (_, k) => 1337 + k),
  stepsScale,
};
if (!(stepsScale > 0 && stepsScale <= 1) || !(workers >= 1) || !(opts.configs >= 3))
  throw new Error('--steps-scale must be in (0, 1], --workers ≥ 1, --configs ≥ 3');

const { manifest, manifestSha256, dir: dataDir } = await ensureDataset('tinyshakespeare', { log });
const dataset = {
  ref: { id: 'tinyshakespeare', sha256: manifestSha256 },
  vocabSize: manifest.vocab.length,
};
const plan = researchPlan(briefRaw, dataset, opts);

// Progress: one folder per scale, its state keyed by everything that decides the trainings.
const dir = join(ROOT, '.tmp-research', `scale-${stepsScale}`);
const stateFile = join(dir, 'state.json');
const key = JSON.stringify({ brief: briefRaw, opts, dataset: manifestSha256 });
interface State {
  key: string;
  results: Record<string, JobResult>;
  loads: number[]; // the 1-minute load average at the start and after each training
  startedAt: number;
  elapsedMs: number; // wall time of earlier sessions (before a kill)
}
let state: State = {
  key,
  results: {},
  loads: [loadavg()[0]!],
  startedAt: Date.now(),
  elapsedMs: 0,
};
if (args.report && !existsSync(stateFile)) throw new Error(`nothing to report: no ${stateFile}`);
if ((args.resume || args.report) && existsSync(stateFile)) {
  const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as State;
  if (saved.key !== key) throw new Error('the saved campaign has another brief or options');
  state = { ...saved, startedAt: Date.now() };
} else if (!args.resume) {
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync(join(dir, 'jobs'), { recursive: true });
function saveState() {
  const now = { ...state, elapsedMs: state.elapsedMs + Date.now() - state.startedAt };
  writeFileSync(`${stateFile}.part`, JSON.stringify(now));
  renameSync(`${stateFile}.part`, stateFile); // a kill mid-write leaves the previous state whole
}
if (!args.report) saveState();

/** Trains one job in a child process (scripts/lib/research-worker.ts) and records its result. */
async function run(job: Job): Promise<void> {
  const file = (ext: string) => join(dir, 'jobs', `${job.id}.${ext}`);
  const work: WorkerJob = {
    spec: job.spec,
    dataDir,
    parentCheckpoint: job.parent ? join(dir, 'jobs', `${job.parent}.tgck`) : null,
    progress: file('progress.tgck'),
    finalCheckpoint: job.keepCheckpoint ? file('tgck') : null,
    result: file('result.json'),
  };
  writeFileSync(file('job.json'), JSON.stringify(work));
  const child = spawn(
    process.execPath,
    [join(ROOT, 'scripts/lib/research-worker.ts'), file('job.json')],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  if (code !== 0) throw new Error(`${job.id} failed (exit ${code})`);
  state.results[job.id] = JSON.parse(readFileSync(work.result, 'utf8')) as JobResult;
  state.loads.push(loadavg()[0]!);
  saveState();
  const r = state.results[job.id]!;
  log(`${job.id}: val_bpb ${r.valBpb.toFixed(4)} in ${(r.wallMs / 60_000).toFixed(1)} min`);
}

// A pool of `workers` processes; each free slot takes the most urgent job not yet running.
const running = new Map<string, Promise<void>>();
while (!args.report) {
  const next = runnableJobs(plan, state.results).filter((j) => !running.has(j.id));
  for (const job of next.slice(0, workers - running.size)) {
    log(`start ${job.id} (${job.spec.train.steps} steps)`);
    running.set(
      job.id,
      run(job).finally(() => running.delete(job.id)),
    );
  }
  if (!running.size) break;
  await Promise.race(running.values());
}
if (!args.report) saveState();
const summary = researchSummary(plan, state.results, {
  wallMs: state.elapsedMs + Date.now() - state.startedAt,
  loads: state.loads,
  workers,
});
log(summaryTable(summary));
if (args.json) console.log(JSON.stringify(summary));
