// The campaigns `npm start` seeds: the default demo campaign, and a tiny one for the browser tests.
import { Rng } from '../../shared/rng.ts';
import type { DatasetManifest } from '../../shared/dataset.ts';
import { PRESETS, type PresetName } from '../../shared/model/presets.ts';
import type { ExperimentSpec } from '../../shared/spec.ts';
import type { NewCampaign } from '../../edge/src/db/campaigns.ts';

function specFrom(
  preset: PresetName,
  manifest: DatasetManifest,
  manifestSha256: string,
  seed: number,
): ExperimentSpec {
  const p = PRESETS[preset];
  return {
    template: 'gpt-char',
    dataset: { id: manifest.id, sha256: manifestSha256 },
    model: { ...p.model, vocabSize: manifest.vocab.length },
    train: { ...p.train },
    seed,
    evalWindows: p.evalWindows,
  };
}

/** Eight demo experiments: learning rate log-uniform in [5e-4, 5e-3] × depth 1 or 2, seeded. */
export function defaultCampaign(manifest: DatasetManifest, manifestSha256: string): NewCampaign {
  const rng = Rng.derive(20261122, 'default-campaign');
  const specs = Array.from({ length: 8 }, (_, i) => {
    const spec = specFrom('demo', manifest, manifestSha256, 1000 + i);
    const lr = Math.exp(Math.log(5e-4) + rng.next() * (Math.log(5e-3) - Math.log(5e-4)));
    spec.train.lr = Number(lr.toPrecision(3));
    spec.train.minLr = Number((lr / 10).toPrecision(3));
    spec.model.nLayer = i % 2 === 0 ? 1 : 2;
    return spec;
  });
  return {
    id: 'demo-sotu',
    name: 'Learning rate × depth on State of the Union',
    brief:
      'How do the learning rate and the number of layers trade off for a small character-level GPT ' +
      'trained on 230 years of State of the Union addresses? Eight configurations, each trained for ' +
      '300 steps and verified in two browsers.',
    template: 'gpt-char',
    datasetId: manifest.id,
    createdAt: Date.UTC(2026, 10, 22),
    specs,
  };
}

/** Two tiny experiments for the end-to-end test: seconds on WASM, well under a minute on SwiftShader. */
export function tinyCampaign(manifest: DatasetManifest, manifestSha256: string): NewCampaign {
  return {
    id: 'e2e-tiny',
    name: 'End-to-end check',
    brief: 'Two tiny GPTs that every browser can train in seconds: the loop, end to end.',
    template: 'gpt-char',
    datasetId: manifest.id,
    createdAt: Date.UTC(2026, 10, 22),
    specs: [1, 2].map((seed) => specFrom('tiny', manifest, manifestSha256, seed)),
  };
}

/**
 * Two longer tiny experiments for the fault tests (reload, network cut, closed tab, restart):
 * long enough on WASM (~10–20 s) to be interrupted mid-training.
 */
export function faultsCampaign(manifest: DatasetManifest, manifestSha256: string): NewCampaign {
  return {
    id: 'e2e-faults',
    name: 'Fault check',
    brief: 'Tiny GPTs trained long enough to be interrupted: nothing a volunteer computes is lost.',
    template: 'gpt-char',
    datasetId: manifest.id,
    createdAt: Date.UTC(2026, 10, 27),
    specs: [11, 12, 13].map((seed) => {
      const spec = specFrom('tiny', manifest, manifestSha256, seed);
      spec.train = { ...spec.train, steps: 600, curveEvery: 100 };
      return spec;
    }),
  };
}

/** Work of its own for the identity-transfer test, so that it never waits on other tests. */
export function identityCampaign(manifest: DatasetManifest, manifestSha256: string): NewCampaign {
  return {
    ...faultsCampaign(manifest, manifestSha256),
    id: 'e2e-identity',
    name: 'Identity check',
    brief: 'Tiny GPTs for a volunteer that moves from one browser to another.',
    specs: [21, 22].map((seed) => {
      const spec = specFrom('tiny', manifest, manifestSha256, seed);
      spec.train = { ...spec.train, steps: 600, curveEvery: 100 };
      return spec;
    }),
  };
}

/**
 * One tiny experiment with six commit steps (every 50 of 300) for the spot-check test: a volunteer
 * reveals a mid-run checkpoint and another browser trains the next 50 steps from it.
 */
export function spotCampaign(manifest: DatasetManifest, manifestSha256: string): NewCampaign {
  const spec = specFrom('tiny', manifest, manifestSha256, 31);
  spec.train = { ...spec.train, steps: 300, curveEvery: 50 };
  return {
    ...tinyCampaign(manifest, manifestSha256),
    id: 'e2e-spot',
    name: 'Spot-check check',
    brief: 'A tiny GPT whose result is spot-checked from one of its committed checkpoints.',
    specs: [spec],
  };
}

/**
 * One tiny run of 90 steps cut into three segments of 30 (docs/lineage.md), for the lineage test:
 * two browsers train each segment from the previous one's verified checkpoint.
 */
export function lineageCampaign(manifest: DatasetManifest, manifestSha256: string): NewCampaign {
  const spec = specFrom('tiny', manifest, manifestSha256, 41);
  spec.train = { ...spec.train, steps: 30, curveEvery: 10, scheduleSteps: 90 };
  return {
    ...tinyCampaign(manifest, manifestSha256),
    id: 'e2e-lineage',
    name: 'Lineage check',
    brief:
      'A tiny GPT trained as three segments, each continuing from the last verified checkpoint.',
    specs: [spec],
    segments: 3,
  };
}

/**
 * Six tiny configurations searched with ASHA (η = 3, rungs of 10 and 30 steps) for the strategy
 * test: the best two of the six are continued from their own verified checkpoints.
 */
export function ashaCampaign(manifest: DatasetManifest, manifestSha256: string): NewCampaign {
  const lrs = [1e-3, 2e-3, 3e-3, 5e-3, 8e-3, 1.2e-2];
  return {
    ...tinyCampaign(manifest, manifestSha256),
    id: 'e2e-asha',
    name: 'ASHA check',
    brief: 'Six learning rates for a tiny GPT, searched by asynchronous successive halving.',
    specs: lrs.map((lr, i) => {
      const spec = specFrom('tiny', manifest, manifestSha256, 51 + i);
      spec.train = {
        ...spec.train,
        steps: 10,
        warmupSteps: 2,
        lr,
        minLr: lr / 10,
        scheduleSteps: 30,
      };
      return spec;
    }),
    segments: 2,
    strategy: { kind: 'asha', eta: 3, maxSteps: 30 },
  };
}

/** Everything the browser tests need, seeded by `npm start -- --campaign tiny`. */
export function e2eCampaigns(manifest: DatasetManifest, manifestSha256: string): NewCampaign[] {
  return [
    tinyCampaign(manifest, manifestSha256),
    faultsCampaign(manifest, manifestSha256),
    identityCampaign(manifest, manifestSha256),
    spotCampaign(manifest, manifestSha256),
    lineageCampaign(manifest, manifestSha256),
    ashaCampaign(manifest, manifestSha256),
  ];
}
