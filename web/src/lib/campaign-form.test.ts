// The campaign form's W&B sweep import: a pasted sweep fills the fields the brief's schema then
// checks, and a key it cannot map is shown at the sweep with the form left as it was.
import { describe, expect, it } from 'vitest';
import { WANDB_SWEEP_YAML } from '../../../shared/cases/briefs.ts';
import { CampaignForm } from './campaign-form.svelte.ts';

const SWEEP = WANDB_SWEEP_YAML;

describe('importing a W&B sweep into the campaign form', () => {
  it('fills the ranges, the counts and ASHA from a YAML sweep', async () => {
    const form = new CampaignForm();
    form.sweep = SWEEP;
    await form.importSweep();
    expect(form.errors.sweep).toBeUndefined();
    expect([form.name, form.datasetId, form.seed]).toEqual(['Learning rate sweep', 'test', 7]);
    expect([form.experiments, form.steps, form.strategy, form.eta, form.maxSteps]).toEqual([
      9,
      30,
      'asha',
      3,
      270,
    ]);
    expect(form.space.lr).toMatchObject({ kind: 'log-uniform', min: '0.0001', max: '0.01' });
    expect(form.space.batchSize).toMatchObject({ kind: 'choice', values: '8, 16' });
    expect(form.space.nLayer.kind).toBe('off'); // the form's own default range is cleared
  });

  it('names the key it cannot map and changes nothing', async () => {
    const form = new CampaignForm();
    form.sweep = SWEEP.replace('method: random', 'method: bayes');
    const before = JSON.stringify(form.space);
    await form.importSweep();
    expect(form.errors.sweep).toMatch(/^method: .*Bayesian/);
    expect(form.strategy).toBe('random');
    expect(JSON.stringify(form.space)).toBe(before);
    form.sweep = '{ unclosed: [';
    await form.importSweep();
    expect(form.errors.sweep).toMatch(/^Not valid YAML or JSON/);
  });
});
