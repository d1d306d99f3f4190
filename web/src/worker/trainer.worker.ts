// The training worker: picks a backend, loads the dataset, trains the leased spec with the shared
// loop and reports progress. It is the loop's host, so pacing lives here and only here: a yield
// between steps (so stop() and setLimits() are handled), the duty-cycle sleep, the pause, and the
// checkpoints to IndexedDB every ~30 s and on pause/stop. The page talks to it only through
// comlink (a dedicated worker, so comlink's default origin check does not apply).
import * as Comlink from 'comlink';
import type { Lease } from '../../../shared/protocol.ts';
import { trainExperiment, type TrainCheckpoint } from '../../../shared/train/loop.ts';
import { openStore } from '../lib/db.ts';
import { pickBackend } from './backend.ts';
import { loadDataset } from './dataset-cache.ts';
import type { BackendInfo, BackendPreference, Limits, Progress, TrainerWorkerApi, TrainResult } from './types.ts';

let checkpointEveryMs = 30_000;

let info: BackendInfo | undefined;
let stopRequested = false;
let limits: Limits = { duty: 1, paused: false };
let wake: (() => void) | undefined;

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(t);
      resolve();
    };
  });

async function saveCheckpoint(lease: Lease, checkpoint: TrainCheckpoint): Promise<void> {
  const store = await openStore();
  const run = await store.get('runs', lease.leaseId);
  if (!run || !info) return; // the page dropped the run (submitted or abandoned): nothing to keep
  await store.put('runs', { ...run, backend: info.backend, checkpoint, savedAt: Date.now() }, lease.leaseId);
}

/** The saved checkpoint of this lease, if it was made on this backend (exact resume: PITFALLS). */
async function savedCheckpoint(lease: Lease): Promise<TrainCheckpoint | undefined> {
  const run = await (await openStore()).get('runs', lease.leaseId);
  return run?.checkpoint && run.backend === info?.backend ? run.checkpoint : undefined;
}

const api: TrainerWorkerApi = {
  async init(preference: BackendPreference, opts = {}) {
    checkpointEveryMs = opts.checkpointEveryMs ?? checkpointEveryMs;
    info ??= await pickBackend(preference);
    return info;
  },

  async train(lease: Lease, onProgress: (p: Progress) => void): Promise<TrainResult> {
    if (!info) throw new Error('init() must pick a backend first');
    const backend = info.backend;
    stopRequested = false;
    const spec = lease.spec;
    const data = await loadDataset(spec.dataset, (p) => onProgress({ type: 'dataset', ...p }));
    const resumeFrom = await savedCheckpoint(lease);
    if (resumeFrom) onProgress({ type: 'resumed', step: resumeFrom.step });
    const tokensPerStep = spec.train.batchSize * spec.model.blockSize;
    let computeMs = 0; // mean compute time per step, without the duty-cycle rests
    let stepStart = performance.now();
    const outcome = await trainExperiment(spec, data, {
      resumeFrom,
      shouldStop: () => stopRequested,
      onStep: async (s) => {
        const lastStepMs = performance.now() - stepStart;
        computeMs = computeMs === 0 ? lastStepMs : 0.9 * computeMs + 0.1 * lastStepMs;
        onProgress({ type: 'step', step: s.step, steps: s.steps, loss: s.loss, msPerStep: computeMs, tokensPerSec: (tokensPerStep * 1000) / computeMs });
        // Duty cycle: after a step of d ms, rest d·(1 − duty)/duty ms; always yield one macrotask
        // so that stop() and setLimits() messages are handled between steps.
        const duty = Math.min(1, Math.max(0.05, limits.duty));
        await sleep(duty < 1 ? (lastStepMs * (1 - duty)) / duty : 0);
        stepStart = performance.now();
      },
      // A pause first saves a checkpoint (interval 0), then waits inside onCheckpoint.
      get checkpointEveryMs() {
        return limits.paused ? 0 : checkpointEveryMs;
      },
      onCheckpoint: async (c) => {
        await saveCheckpoint(lease, c);
        onProgress({ type: 'checkpoint', step: c.step });
        while (limits.paused && !stopRequested) await sleep(60_000);
        stepStart = performance.now();
      },
    });
    if (outcome.stopped) return { stopped: true };
    return { stopped: false, metrics: { ...outcome.metrics, backend } };
  },

  setLimits(next: Limits) {
    limits = next;
    wake?.();
  },

  stop() {
    stopRequested = true;
    wake?.();
  },
};

Comlink.expose(api);
