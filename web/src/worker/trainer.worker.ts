// The training worker: picks a backend, loads the dataset, trains the leased spec with the shared
// loop and reports progress. It is the loop's host, so pacing lives here and only here: a yield
// between steps (so stop() and setLimits() are handled), the duty-cycle sleep, the pause, and the
// checkpoints to IndexedDB every ~30 s and on pause/stop. The page talks to it only through
// comlink (a dedicated worker, so comlink's default origin check does not apply).
import * as Comlink from 'comlink';
import { commitSteps, decodeCheckpoint, encodeCheckpoint } from '../../../shared/commit.ts';
import { LEASE_TOKEN_HEADER, lineageCheckpointPath, type Lease } from '../../../shared/protocol.ts';
import { startStep } from '../../../shared/spec.ts';
import {
  trainExperiment,
  trainSegment,
  type StepInfo,
  type TrainCheckpoint,
} from '../../../shared/train/loop.ts';
import { commitKey, openStore } from '../lib/db.ts';
import { pickBackend } from './backend.ts';
import { loadDataset } from './dataset-cache.ts';
import type {
  BackendInfo,
  BackendPreference,
  Limits,
  Progress,
  TrainerWorkerApi,
  TrainResult,
} from './types.ts';

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
  await store.put(
    'runs',
    { ...run, backend: info.backend, checkpoint, savedAt: Date.now() },
    lease.leaseId,
  );
}

/**
 * A commitment (shared/commit.ts) to the state after a commit step, kept with the run so that a
 * resume carries the ones made before it, and the checkpoint itself, which a spot check may ask to
 * see once the result is in (the page deletes the rest then). Reads the weights and AdamW's moments
 * back once per commit step (at most 16 per experiment).
 */
async function saveCommitment(lease: Lease, checkpoint: TrainCheckpoint): Promise<void> {
  const { bytes, commitment } = await encodeCheckpoint(lease.specHash, checkpoint);
  const store = await openStore();
  const run = await store.get('runs', lease.leaseId);
  if (!run) return;
  await store.put('commits', bytes.buffer, commitKey(lease.leaseId, checkpoint.step));
  await store.put(
    'runs',
    { ...run, commitments: { ...run.commitments, [checkpoint.step]: commitment } },
    lease.leaseId,
  );
}

/** A spot check's starting point: the revealed checkpoint it names (null: from the seed). */
async function revealedCheckpoint(lease: Lease): Promise<TrainCheckpoint | undefined> {
  const path = lease.spotCheck?.checkpointPath;
  if (!path) return undefined;
  const res = await fetch(path, { headers: { [LEASE_TOKEN_HEADER]: lease.leaseToken } });
  if (!res.ok) throw new Error(`the checkpoint to check could not be fetched (${res.status})`);
  // The edge checked it against the result's commitment before offering it.
  const { state } = await decodeCheckpoint(new Uint8Array(await res.arrayBuffer()), null);
  return { ...state, wallMs: 0 };
}

/**
 * A continuation's starting point: its parent's checkpoint, from IndexedDB by its hash or else
 * downloaded and stored there — and in both cases checked against that hash (its header hashes to
 * it, every tensor to the header's hash of it) before a step is trained from it.
 */
async function parentCheckpoint(lease: Lease): Promise<TrainCheckpoint | undefined> {
  const parent = lease.spec.parent;
  if (!parent) return undefined;
  const store = await openStore();
  const check = async (bytes: ArrayBuffer) => {
    const { header, state } = await decodeCheckpoint(
      new Uint8Array(bytes),
      parent.checkpointSha256,
    );
    if (header.step !== parent.step)
      throw new Error(`the parent checkpoint is of step ${header.step}, not ${parent.step}`);
    return { ...state, wallMs: 0 };
  };
  const cached = await store.get('blobs', parent.checkpointSha256);
  if (cached) {
    try {
      return await check(cached);
    } catch {
      await store.delete('blobs', parent.checkpointSha256); // damaged: fetched again below
    }
  }
  const res = await fetch(lineageCheckpointPath(parent.checkpointSha256));
  if (!res.ok) throw new Error(`the parent checkpoint could not be fetched (${res.status})`);
  const bytes = await res.arrayBuffer();
  const state = await check(bytes); // throws on bytes that do not match: never trained from
  try {
    await store.put('blobs', bytes, parent.checkpointSha256);
  } catch (err) {
    console.warn(`Parent checkpoint not cached (${(err as Error).name}).`);
  }
  return state;
}

/** The result's commitments in commit-step order, or none when a run made before them lacks some. */
async function commitmentsOf(lease: Lease): Promise<string[] | undefined> {
  const made = (await (await openStore()).get('runs', lease.leaseId))?.commitments ?? {};
  const start = startStep(lease.spec);
  const hashes = commitSteps(lease.spec.train).map((step) => made[start + step]);
  return hashes.every((h) => h !== undefined) ? (hashes as string[]) : undefined;
}

/**
 * The loop's onStep for both kinds of lease: progress to the page, then the duty-cycle rest (after a
 * step of d ms, rest d·(1 − duty)/duty ms), always yielding one macrotask so that stop() and
 * setLimits() are handled between steps.
 */
function pacedSteps(spec: Lease['spec'], onProgress: (p: Progress) => void) {
  const tokensPerStep = spec.train.batchSize * spec.model.blockSize;
  let computeMs = 0; // mean compute time per step, without the duty-cycle rests
  let stepStart = performance.now();
  return {
    restart: () => (stepStart = performance.now()),
    onStep: async (s: StepInfo) => {
      const lastStepMs = performance.now() - stepStart;
      computeMs = computeMs === 0 ? lastStepMs : 0.9 * computeMs + 0.1 * lastStepMs;
      onProgress({
        type: 'step',
        step: s.step,
        steps: s.steps,
        loss: s.loss,
        msPerStep: computeMs,
        tokensPerSec: (tokensPerStep * 1000) / computeMs,
      });
      const duty = Math.min(1, Math.max(0.05, limits.duty));
      await sleep(duty < 1 ? (lastStepMs * (1 - duty)) / duty : 0);
      stepStart = performance.now();
    },
  };
}

/** The saved checkpoint of this lease, if it was made on this backend (exact resume: docs/backends.md). */
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
    const saved = await savedCheckpoint(lease);
    if (saved) onProgress({ type: 'resumed', step: saved.step - startStep(spec) });
    const resumeFrom = saved ?? (await parentCheckpoint(lease));
    const pace = pacedSteps(spec, onProgress);
    const outcome = await trainExperiment(spec, data, {
      resumeFrom,
      shouldStop: () => stopRequested,
      onStep: pace.onStep,
      // A pause first saves a checkpoint (interval 0), then waits inside onCheckpoint.
      get checkpointEveryMs() {
        return limits.paused ? 0 : checkpointEveryMs;
      },
      onCheckpoint: async (c) => {
        await saveCheckpoint(lease, c);
        onProgress({ type: 'checkpoint', step: c.step });
        while (limits.paused && !stopRequested) await sleep(60_000);
        pace.restart();
      },
      onCommit: async (c) => {
        await saveCommitment(lease, c);
        pace.restart();
      },
    });
    if (outcome.stopped) return { stopped: true };
    return {
      stopped: false,
      metrics: { ...outcome.metrics, backend, commitments: await commitmentsOf(lease) },
    };
  },

  async spotCheck(lease: Lease, onProgress: (p: Progress) => void): Promise<number[] | null> {
    if (!info) throw new Error('init() must pick a backend first');
    if (!lease.spotCheck) throw new Error('not a spot-check lease');
    stopRequested = false;
    const data = await loadDataset(lease.spec.dataset, (p) =>
      onProgress({ type: 'dataset', ...p }),
    );
    const pace = pacedSteps(lease.spec, onProgress);
    const resumeFrom = (await revealedCheckpoint(lease)) ?? (await parentCheckpoint(lease));
    const { toStep } = lease.spotCheck;
    return trainSegment(lease.spec, data, toStep, {
      resumeFrom,
      shouldStop: () => stopRequested,
      onStep: (s) => pace.onStep({ ...s, steps: toStep - startStep(lease.spec) }),
    });
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
