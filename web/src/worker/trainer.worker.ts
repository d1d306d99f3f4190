// The training worker: picks a backend, loads the dataset, trains the leased spec with the shared
// loop and reports progress. The page talks to it only through comlink (a dedicated worker, so
// comlink's default origin check does not apply).
import * as Comlink from 'comlink';
import { trainExperiment } from '../../../shared/train/loop.ts';
import type { ExperimentSpec } from '../../../shared/spec.ts';
import { pickBackend } from './backend.ts';
import { loadDataset } from './dataset-cache.ts';
import type { BackendInfo, BackendPreference, Progress, TrainerWorkerApi, TrainResult } from './types.ts';

let info: BackendInfo | undefined;
let stopRequested = false;

const api: TrainerWorkerApi = {
  async init(preference: BackendPreference) {
    info ??= await pickBackend(preference);
    return info;
  },

  async train(spec: ExperimentSpec, onProgress: (p: Progress) => void): Promise<TrainResult> {
    if (!info) throw new Error('init() must pick a backend first');
    stopRequested = false;
    const data = await loadDataset(spec.dataset, (p) => onProgress({ type: 'dataset', ...p }));
    const outcome = await trainExperiment(spec, data, {
      onStep: async (s) => {
        onProgress({ type: 'step', step: s.step, steps: s.steps, loss: s.loss, msPerStep: s.msPerStep });
        // Yield a macrotask so a stop() message is handled between steps.
        await new Promise((resolve) => setTimeout(resolve, 0));
      },
      shouldStop: () => stopRequested,
    });
    if (outcome.stopped || !outcome.metrics) return { stopped: true };
    return { stopped: false, metrics: { ...outcome.metrics, backend: info.backend } };
  },

  stop() {
    stopRequested = true;
  },
};

Comlink.expose(api);
