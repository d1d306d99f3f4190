// What the training worker exposes through comlink, and what it reports back.
import type { Backend, Metrics } from '../../../shared/protocol.ts';
import type { ExperimentSpec } from '../../../shared/spec.ts';

export type BackendPreference = 'auto' | Backend;

export interface BackendInfo {
  backend: Backend;
  adapter?: string; // the GPU adapter's description, when WebGPU is used
  threads?: number; // WASM threads, when WASM is used
}

export type Progress =
  | { type: 'dataset'; loaded: number; total: number; cached: boolean }
  | { type: 'step'; step: number; steps: number; loss: number; msPerStep: number };

export type TrainResult = { stopped: true } | { stopped: false; metrics: Metrics };

export interface TrainerWorkerApi {
  init(preference: BackendPreference): Promise<BackendInfo>;
  train(spec: ExperimentSpec, onProgress: (p: Progress) => void): Promise<TrainResult>;
  stop(): void;
}
