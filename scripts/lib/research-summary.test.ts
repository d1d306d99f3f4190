// The research report decides the target only over every planned seed of the found recipe.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { researchPlan, type JobResult } from './research-plan.ts';
import { researchSummary, summaryTable } from './research-summary.ts';

const brief = JSON.parse(
  readFileSync(new URL('../data/research-brief.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const dataset = { ref: { id: 'tinyshakespeare', sha256: 'a'.repeat(64) }, vocabSize: 65 };
const plan = researchPlan(brief, dataset, { configs: 9, seeds: [1, 2], stepsScale: 0.05 });
const r = (valBpb: number): JobResult => ({
  valBpb,
  valLoss: 1,
  wallMs: 60_000,
  checkpointSha256: 'b'.repeat(64),
});
const results: Record<string, JobResult> = {};
plan.configs.forEach((_, i) => (results[`c${i}-r0`] = r(i === 2 ? 3 : 4 + i / 100)));
for (const i of [0, 1, 2]) results[`c${i}-r1`] = r(3 - i / 10);
results['c2-r2'] = r(2.7);
const own = `found-s${plan.configs[2]!.seed}`;
const info = { wallMs: 600_000, loads: [2, 4, 9], workers: 2 };

it('decides the target over every seed of the found recipe, and not before', () => {
  const one = researchSummary(plan, { ...results, 'found-s1': r(2.6) }, info);
  expect([one.found?.config, one.found?.n, one.met]).toEqual(['c2', 1, null]);
  const both = researchSummary(plan, { ...results, 'found-s1': r(2.6), [own]: r(2.68) }, info);
  expect([both.found?.mean?.toFixed(6), both.met, both.load.median, both.trainMinutes]).toEqual([
    '2.640000',
    true,
    4,
    15,
  ]);
  expect(researchSummary(plan, { ...results, 'found-s1': r(2.6), [own]: r(2.8) }, info).met).toBe(
    false,
  );
  expect(summaryTable(both)).toContain('found (c2): val_bpb 2.6400 ± 0.0566 over 2 seeds');
});
