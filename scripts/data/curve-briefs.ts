// The briefs whose learning curves `npm run record:curves` records and bench:search replays
// (docs/strategies.md), and the table's shape. Each is an ASHA brief: its rungs are the steps at
// which every configuration's val_bpb is recorded.
import { CampaignBrief } from '../../shared/search-space.ts';

export interface CurveTable {
  brief: CampaignBrief;
  rungs: number[];
  backend: string;
  configs: {
    lr: number;
    batchSize: number;
    nLayer?: number;
    nEmbd?: number;
    params?: number;
    valBpb: (number | null)[]; // null: the run diverged by that rung
    flops: number[]; // each rung's own FLOPs (from the rung below)
  }[];
}

const BASE = {
  template: 'gpt-char',
  datasetId: 'sotu',
  seed: 20261206,
} as const;

export const CURVE_BRIEFS = {
  /** The first table: mostly the learning rate of a one-layer model, 27 configurations. */
  lr: {
    file: 'asha-curves.json',
    brief: CampaignBrief.parse({
      ...BASE,
      name: 'Recorded curves',
      brief: 'Learning rate, batch size and beta2 for a tiny GPT on State of the Union addresses.',
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
      strategy: { kind: 'asha', eta: 3, maxSteps: 270 },
    }),
  },
  /**
   * A research search space: learning rate, warmup, batch, weight decay, width and depth, 81
   * configurations, four rungs (η = 3) up to 810 steps, long enough to leave the unigram plateau.
   */
  broad: {
    file: 'asha-curves-broad.json',
    brief: CampaignBrief.parse({
      ...BASE,
      name: 'Recorded curves, broad',
      brief: 'Learning rate, warmup, batch, weight decay, width and depth of a small GPT on SOTU.',
      searchSpace: {
        lr: { kind: 'log-uniform', min: 3e-4, max: 3e-2 },
        warmupSteps: { kind: 'choice', values: [5, 15, 30] },
        batchSize: { kind: 'choice', values: [8, 16] },
        weightDecay: { kind: 'uniform', min: 0, max: 0.2 },
        nLayer: { kind: 'choice', values: [1, 2] },
        nEmbd: { kind: 'choice', values: [32, 48, 64] },
        nHead: { kind: 'fixed', value: 2 },
        blockSize: { kind: 'fixed', value: 32 },
      },
      experiments: 81,
      steps: 30,
      strategy: { kind: 'asha', eta: 3, maxSteps: 810 },
    }),
  },
};

/**
 * bench:search's PBT population (trained for real, not replayed: PBT moves weights between
 * members). One architecture and batch, so every member's step costs the same FLOPs and random
 * search on the same configurations spends exactly PBT's compute. Population, segment length and
 * generations come from the benchmark's flags.
 */
export const PBT_SPACE = {
  template: 'gpt-char',
  datasetId: 'sotu',
  name: 'PBT against random search',
  brief: 'Learning rate, warmup, weight decay and beta2 of a tiny GPT on SOTU, trained by PBT.',
  searchSpace: {
    lr: { kind: 'log-uniform', min: 3e-4, max: 3e-2 },
    warmupSteps: { kind: 'choice', values: [5, 15, 30] },
    weightDecay: { kind: 'uniform', min: 0, max: 0.2 },
    beta2: { kind: 'choice', values: [0.9, 0.95, 0.99] },
    nLayer: { kind: 'fixed', value: 1 },
    nEmbd: { kind: 'fixed', value: 32 },
    nHead: { kind: 'fixed', value: 2 },
    blockSize: { kind: 'fixed', value: 32 },
    batchSize: { kind: 'fixed', value: 8 },
  },
} as const;
