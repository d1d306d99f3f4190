// A valid brief on the tests' seeded `test` dataset: six experiments over lr, width and depth.
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
