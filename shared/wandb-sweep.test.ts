// The W&B sweep mapping: what each key becomes in the brief, and each refusal naming its key.
import { describe, expect, it } from 'vitest';
import { WANDB_SWEEP } from './cases/briefs.ts';
import { Rng } from './rng.ts';
import { sampleExperiments } from './search-space.ts';
import { BriefOrSweep, sweepToBrief } from './wandb-sweep.ts';

const SWEEP = WANDB_SWEEP;

const issuesOf = (sweep: unknown) =>
  (BriefOrSweep.safeParse(sweep).error?.issues ?? []).map((i) => ({
    path: i.path.join('.'),
    message: i.message,
  }));

describe('W&B sweep configurations', () => {
  it('maps method, parameters and hyperband onto the search space and ASHA', () => {
    const brief = BriefOrSweep.parse(SWEEP);
    expect(brief).toMatchObject({
      name: 'Learning rate and width',
      brief: 'Which learning rate and width give the lowest val_bpb?',
      experiments: 9,
      steps: 30,
      strategy: { kind: 'asha', eta: 3, maxSteps: 270 },
      searchSpace: {
        lr: { kind: 'log-uniform', min: 3e-4, max: 3e-3 },
        nEmbd: { kind: 'choice', values: [32, 64] },
        nLayer: { kind: 'fixed', value: 1 },
        warmupSteps: { kind: 'uniform', min: 4.5, max: 20.5 },
        weightDecay: { kind: 'uniform', min: 0, max: 0.2 },
      },
    });
    const specs = sampleExperiments(brief, {
      ref: { id: 'test', sha256: 'a'.repeat(64) },
      vocabSize: 65,
    });
    expect(specs).toHaveLength(9);
    for (const s of specs) expect(s.train.warmupSteps).toBeGreaterThanOrEqual(5);
  });

  it('samples int_uniform as W&B does: every integer of [min, max], the ends as often as the rest', () => {
    const { brief } = sweepToBrief({ ...SWEEP, parameters: { batch_size: { min: 1, max: 4 } } });
    const range = (brief.searchSpace as Record<string, { min: number; max: number }>).batchSize!;
    const rng = Rng.derive(1, 'int-uniform');
    const counts = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 8000; i++)
      counts[Math.round(range.min + rng.next() * (range.max - range.min))]!++;
    expect(counts[0]).toBe(0);
    expect(counts[5]).toBe(0);
    for (const c of counts.slice(1, 5)) expect(c).toBeGreaterThan(1800); // 2,000 expected each
  });

  it('maps log_uniform bounds from natural logarithms, and a sweep without early_terminate to random', () => {
    const brief = BriefOrSweep.parse({
      ...SWEEP,
      early_terminate: undefined,
      steps: 200,
      parameters: { lr: { distribution: 'log_uniform', min: Math.log(1e-4), max: Math.log(1e-2) } },
    });
    expect(brief.strategy).toEqual({ kind: 'random' });
    expect(brief.steps).toBe(200);
    const lr = brief.searchSpace.lr as { min: number; max: number };
    expect(lr.min).toBeCloseTo(1e-4, 12);
    expect(lr.max).toBeCloseTo(1e-2, 12);
  });

  it('derives the missing end of the rungs from s', () => {
    const { brief } = sweepToBrief({
      ...SWEEP,
      early_terminate: { type: 'hyperband', max_iter: 270, s: 2 },
    });
    expect(brief).toMatchObject({ steps: 30, strategy: { kind: 'asha', eta: 3, maxSteps: 270 } });
  });

  it.each([
    ['method', { method: 'grid' }, /a grid cannot be mapped/],
    ['method', { method: 'bayes' }, /no Bayesian proposer/],
    ['metric.name', { metric: { name: 'val_loss', goal: 'minimize' } }, /must be val_bpb/],
    ['metric.goal', { metric: { name: 'val_bpb', goal: 'maximize' } }, /minimize/],
    [
      'parameters.activation',
      { parameters: { activation: { values: ['relu'] } } },
      /cannot search "activation"/,
    ],
    [
      'parameters.lr.distribution',
      { parameters: { lr: { distribution: 'normal', mu: 0, sigma: 1 } } },
      /cannot map the distribution "normal"/,
    ],
    [
      'parameters.lr.distribution',
      { parameters: { lr: { distribution: 'inv_log_uniform', min: 1, max: 2 } } },
      /cannot map the distribution/,
    ],
    [
      'parameters.lr.distribution',
      { parameters: { lr: { distribution: 'int_uniform', min: 1, max: 2 } } },
      /integer hyperparameter/,
    ],
    [
      'parameters.nEmbd.q',
      { parameters: { nEmbd: { distribution: 'q_uniform', min: 32, max: 64, q: 8 } } },
      /q: 1/,
    ],
    [
      'parameters.lr.min',
      { parameters: { lr: { distribution: 'log_uniform_values', min: -1, max: 1 } } },
      /too small/i,
    ],
    [
      'parameters.learning_rate',
      { parameters: { lr: { value: 1e-3 }, learning_rate: { value: 2e-3 } } },
      /twice/,
    ],
    [
      'parameters.constructor',
      { parameters: JSON.parse('{"constructor": {"value": 1}, "__proto__": {"value": 1}}') },
      /cannot search "constructor"/,
    ],
    ['early_terminate.type', { early_terminate: { type: 'envelope' } }, /Only hyperband/],
    [
      'early_terminate.max_iter',
      { early_terminate: { type: 'hyperband', min_iter: 30 } },
      /max_iter/,
    ],
    [
      'early_terminate.strict',
      { early_terminate: { type: 'hyperband', min_iter: 30, max_iter: 90, strict: true } },
      /Strict/,
    ],
    ['program', { program: 'train.py' }, /cannot run a program/],
    ['sweep_name', { sweep_name: 'x' }, /cannot map the sweep key "sweep_name"/],
    ['run_cap', { experiments: 9 }, /once/],
  ])('refuses %s', (path, change, message) => {
    const issues = issuesOf({ ...SWEEP, ...change });
    expect(issues).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('leaves the rest to the brief schema: η < 2 is refused at strategy.eta', () => {
    const issues = issuesOf({
      ...SWEEP,
      early_terminate: { type: 'hyperband', min_iter: 30, max_iter: 270, eta: 1 },
    });
    expect(issues.map((i) => i.path)).toContain('strategy.eta');
  });

  it('passes a brief that is not a sweep through unchanged', () => {
    const brief = { name: 'n', searchSpace: {}, method: 'random' };
    expect(issuesOf(brief).some((i) => i.path === 'method')).toBe(false);
  });
});
