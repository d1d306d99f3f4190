// Valid briefs on the tests' seeded `test` dataset: six experiments over lr, width and depth, and
// the same kind of question as a Weights & Biases sweep with hyperband (ASHA).
// Shared by the edge's tests (edge/test/campaign-fixtures.ts) and the researcher client's.
import type { z } from 'zod';
import type { CampaignBrief } from '../search-space.ts';

export const WIDTH_SWEEP: z.input<typeof CampaignBrief> = {
  name: 'Width sweep',
  brief: 'Does width or depth matter more for a tiny char model?',
  template: 'gpt-char',
  datasetId: 'test',
  searchSpace: {
    lr: { kind: 'log-uniform', min: 3e-4, max: 3e-3 },
    nEmbd: { kind: 'choice', values: [32, 64] },
    nLayer: { kind: 'choice', values: [1, 2] },
  },
  experiments: 6,
  steps: 200,
  replicas: 2,
  seed: 7,
};

/** A W&B sweep as a researcher writes it, with the brief's own fields beside its keys. */
export const WANDB_SWEEP = {
  name: 'Learning rate and width',
  description: 'Which learning rate and width give the lowest val_bpb?',
  method: 'random',
  metric: { name: 'val_bpb', goal: 'minimize' },
  run_cap: 9,
  parameters: {
    learning_rate: { distribution: 'log_uniform_values', min: 3e-4, max: 3e-3 },
    n_embd: { values: [32, 64] },
    n_layer: { value: 1 },
    warmup_iters: { distribution: 'int_uniform', min: 5, max: 20 },
    weight_decay: { min: 0.0, max: 0.2 },
  },
  early_terminate: { type: 'hyperband', min_iter: 30, eta: 3, max_iter: 270 },
  datasetId: 'test',
  seed: 7,
};

/** The same kind of sweep as a file in YAML, as `wandb sweep` reads it. */
export const WANDB_SWEEP_YAML = `# sweep.yaml, as for wandb sweep, with Tabgrid's dataset and seed
name: Learning rate sweep
description: Which learning rate is best for a tiny char model?
method: random
metric: { name: val_bpb, goal: minimize }
run_cap: 9
parameters:
  learning_rate: { distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2 }
  batch_size: { values: [8, 16] }
early_terminate: { type: hyperband, min_iter: 30, eta: 3, max_iter: 270 }
datasetId: test
seed: 7
`;
