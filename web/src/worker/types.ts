// What the training worker exposes through comlink, and what it reports back.
import type { Backend, Lease, Metrics } from '../../../shared/protocol.ts';

export type BackendPreference = 'auto' | Backend;

export interface BackendInfo {
  backend: Backend;
  adapter?: string; // the GPU adapter's (or WebGL renderer's) description
  threads?: number; // WASM threads, when WASM is used
  precision?: 'float32' | 'float16'; // float16: WebGL without float32 render targets (omitted: float32)
  /** The probe that chose it (`auto`): ms per step of each backend whose losses matched WASM's. */
  probe?: Partial<Record<Backend, number>>;
}

export type Progress =
  | { type: 'dataset'; loaded: number; total: number; cached: boolean }
  | { type: 'resumed'; step: number }
  | { type: 'checkpoint'; step: number }
  | {
      type: 'step';
      step: number;
      steps: number;
      loss: number;
      msPerStep: number;
      tokensPerSec: number;
    };

export type TrainResult = { stopped: true } | { stopped: false; metrics: Metrics };

/** How hard the worker may compute: a duty cycle in (0, 1], or paused altogether. */
export interface Limits {
  duty: number;
  paused: boolean;
}

export interface TrainerWorkerApi {
  /** Picks the backend once; `checkpointEveryMs` overrides the ~30 s checkpoint interval. */
  init(preference: BackendPreference, opts?: { checkpointEveryMs?: number }): Promise<BackendInfo>;
  /** Trains the leased experiment, resuming from its saved checkpoint when there is one. */
  train(lease: Lease, onProgress: (p: Progress) => void): Promise<TrainResult>;
  /** Runs a spot-check lease: retrains its segment and returns the segment means (null: stopped). */
  spotCheck(lease: Lease, onProgress: (p: Progress) => void): Promise<number[] | null>;
  setLimits(limits: Limits): void;
  /** Stops between two steps and saves a checkpoint; takes effect within one step. */
  stop(): void;
}
