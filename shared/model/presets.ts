// Presets as data: a model and a recipe each, one line of intent above each. The vocabulary size
// comes from the dataset, so presets leave it out.
import type { ModelConfig, TrainConfig } from '../spec.ts';

export interface Preset {
  intent: string;
  model: Omit<ModelConfig, 'vocabSize'>;
  train: TrainConfig;
  evalWindows: number;
}

const nanogptRecipe = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, gradClip: 1.0 };

export const PRESETS = {
  tiny: {
    intent: 'tests: a few seconds per experiment on WASM, under a minute on software WebGPU',
    model: { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 32, bias: false, dropout: 0 },
    train: {
      steps: 30,
      batchSize: 4,
      lr: 3e-3,
      minLr: 3e-4,
      warmupSteps: 5,
      curveEvery: 10,
      ...nanogptRecipe,
    },
    evalWindows: 16,
  },
  demo: {
    intent:
      'the default campaign: a real small GPT, under two minutes per experiment on 2-core WASM',
    model: { nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 64, bias: false, dropout: 0 },
    train: {
      steps: 300,
      batchSize: 8,
      lr: 2e-3,
      minLr: 2e-4,
      warmupSteps: 30,
      curveEvery: 50,
      ...nanogptRecipe,
    },
    evalWindows: 64,
  },
  'nanogpt-cpu': {
    intent: "nanoGPT's CPU recipe on TinyShakespeare (val loss 1.886, val_bpb 2.72 in PyTorch)",
    model: { nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, bias: false, dropout: 0 },
    train: {
      steps: 2000,
      batchSize: 12,
      lr: 1e-3,
      minLr: 1e-4,
      warmupSteps: 100,
      curveEvery: 100,
      ...nanogptRecipe,
    },
    evalWindows: 256,
  },
  'nanogpt-gpu': {
    intent: "nanoGPT's GPU Shakespeare-char recipe, for volunteers with a real GPU",
    model: { nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256, bias: false, dropout: 0.2 },
    train: {
      steps: 5000,
      batchSize: 64,
      lr: 1e-3,
      minLr: 1e-4,
      warmupSteps: 100,
      curveEvery: 250,
      ...nanogptRecipe,
    },
    evalWindows: 256,
  },
} satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;
