// The research campaign's plan: the rungs, the cap, ASHA's promotions rung by rung, the
// continuations' parents, the found recipe's evaluation, and what a resumed run still has to train.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parameterCount } from '../../shared/spec.ts';
import {
  foundSeeds,
  meanSd,
  researchPlan,
  runnableJobs,
  searchState,
  type JobResult,
} from './research-plan.ts';

const brief = JSON.parse(
  readFileSync(new URL('../data/research-brief.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const dataset = { ref: { id: 'tinyshakespeare', sha256: 'a'.repeat(64) }, vocabSize: 65 };
const plan = researchPlan(brief, dataset, { configs: 9, seeds: [1337, 1338], stepsScale: 1 });
const sha = (id: string) => id.charCodeAt(1).toString(16).padStart(2, '0').repeat(32);
const result = (id: string, valBpb: number): JobResult => ({
  valBpb,
  valLoss: valBpb * Math.LN2,
  wallMs: 1,
  checkpointSha256: sha(id),
});
// Rung 0: c4 < c7 < c1 are the best three, the others worse; rung 1: c7 best.
const best: Record<number, number> = { 4: 3.0, 7: 3.1, 1: 3.2 };
const rung0 = Object.fromEntries(
  plan.configs.map((_, i) => [`c${i}-r0`, result(`c${i}-r0`, best[i] ?? 4 + i / 100)]),
);
const rung1 = {
  ...rung0,
  'c4-r1': result('c4-r1', 2.9),
  'c7-r1': result('c7-r1', 2.8),
  'c1-r1': result('c1-r1', 2.95),
};

describe('researchPlan', () => {
  it("has nanoGPT's budget, its batch, its parameter cap and its evaluation windows", () => {
    expect(plan.rungs).toEqual([222, 666, 1998]);
    expect(plan.evalSteps).toBe(2000);
    expect(plan.paramCap).toBe(804096);
    expect(plan.configs).toHaveLength(9);
    for (const s of plan.configs) {
      expect(parameterCount(s.model)).toBeLessThanOrEqual(plan.paramCap);
      expect([s.train.batchSize, s.model.blockSize, s.evalWindows]).toEqual([12, 64, 256]);
      expect(s.train.scheduleSteps).toBe(2000);
    }
  });

  it('scales every budget for a try, and refuses a brief that is not ASHA', () => {
    const small = researchPlan(brief, dataset, { configs: 9, seeds: [1], stepsScale: 0.05 });
    expect([small.rungs, small.evalSteps]).toEqual([[11, 33, 99], 100]);
    const random = { ...brief, strategy: { kind: 'random' } };
    expect(() => researchPlan(random, dataset, { configs: 9, seeds: [1], stepsScale: 1 })).toThrow(
      'ASHA',
    );
  });
});

describe('runnableJobs', () => {
  const ids = (results: Record<string, JobResult>) => runnableJobs(plan, results).map((j) => j.id);

  it('starts every configuration at rung 0, and nothing else before the search decides', () => {
    expect(ids({})).toEqual(plan.configs.map((_, i) => `c${i}-r0`));
  });

  it('promotes nothing while a rung is incomplete, then the best ⌊n/η⌋', () => {
    const partial = { ...rung0 };
    delete partial['c8-r0'];
    expect(ids(partial)).toEqual(['c8-r0']);
    expect(ids(rung0)).toEqual(['c4-r1', 'c7-r1', 'c1-r1']);
  });

  it('continues a promotion from its own final checkpoint, the schedule unchanged', () => {
    const job = runnableJobs(plan, rung1).find((j) => j.id === 'c7-r2')!;
    expect(job.parent).toBe('c7-r1');
    expect(job.spec.parent).toEqual({
      experimentId: 'c7-r1',
      step: 666,
      checkpointSha256: sha('c7-r1'),
    });
    expect([job.spec.train.steps, job.spec.train.scheduleSteps]).toEqual([1332, 2000]);
    // One configuration at the top rung: the found recipe is decided, its other seeds may start.
    expect(searchState(plan, rung1).found).toBe(7);
    expect(ids(rung1)).toEqual(['c7-r2', 'found-s1337', 'default-s1337', 'default-s1338']);
  });

  it('counts the found lineage, continued to the full budget, as one seed; a resumed run skips what is done', () => {
    const done = JSON.parse(
      JSON.stringify({
        ...rung1,
        'c7-r2': result('c7-r2', 2.6),
        'default-s1337': result('d', 2.7),
      }),
    ) as Record<string, JobResult>;
    expect(searchState(plan, done).promotions.map((p) => [p.config, p.fromRung])).toEqual([
      [4, 0],
      [7, 0],
      [1, 0],
      [7, 1],
    ]);
    const own = plan.configs[7]!.seed;
    expect(foundSeeds(plan, 7)).toEqual([own, 1337]);
    const jobs = runnableJobs(plan, done);
    expect(jobs.map((j) => j.id)).toEqual([`found-s${own}`, 'found-s1337', 'default-s1338']);
    expect([jobs[0]!.parent, jobs[0]!.spec.parent?.step, jobs[0]!.spec.train.steps]).toEqual([
      'c7-r2',
      1998,
      2,
    ]);
    expect(jobs[0]!.spec.parent?.checkpointSha256).toBe(sha('c7-r2'));
    expect(jobs[1]!.spec).toEqual({
      ...plan.configs[7],
      seed: 1337,
      train: { ...plan.configs[7]!.train, steps: 2000 },
    });
  });
});

it('meanSd is the sample standard deviation', () => {
  expect(meanSd([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, sd: Math.sqrt(32 / 7), n: 8 });
});
