// ASHA's rule, pure: the rungs, promotions as results arrive in any order, the replay's check, and
// the brief's refusals of impossible strategies with the field named.
import { describe, expect, it } from 'vitest';
import {
  ashaPromotions,
  promotionHolds,
  replayProblems,
  rungSteps,
  type RungResult,
} from './asha.ts';
import { CampaignBrief } from './search-space.ts';

const at = (rung: number, id: string, valBpb: number): RungResult => ({
  config: id.split('-r')[0]!,
  rung,
  experimentId: id,
  valBpb,
});

describe('ASHA', () => {
  it('rungs multiply by η up to maxSteps', () => {
    expect(rungSteps(30, { eta: 3, maxSteps: 270 })).toEqual([30, 90, 270]);
    expect(rungSteps(30, { eta: 3, maxSteps: 269 })).toEqual([30, 90]);
    expect(rungSteps(100, { eta: 4, maxSteps: 2000 })).toEqual([100, 400, 1600]);
  });

  it('promotes the best ⌊n/η⌋ of a rung as soon as they are, never twice, and never from the top rung', () => {
    const r0 = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => at(0, id, 3 + i / 10));
    expect(ashaPromotions(3, 3, r0.slice(0, 2), new Set())).toEqual([]); // ⌊2/3⌋ = 0
    expect(ashaPromotions(3, 3, r0.slice(0, 3), new Set()).map((p) => p.parent)).toEqual(['a']);
    expect(ashaPromotions(3, 3, r0, new Set(['a'])).map((p) => p.parent)).toEqual(['b']);
    const top = [at(2, 'a-r2', 2), at(2, 'b-r2', 2.1), at(2, 'c-r2', 2.2)];
    expect(ashaPromotions(3, 3, top, new Set())).toEqual([]);
    const [p] = ashaPromotions(3, 3, r0.slice(0, 3), new Set());
    expect(p).toEqual({
      config: 'a',
      fromRung: 0,
      parent: 'a',
      rung: [
        { experimentId: 'a', valBpb: 3 },
        { experimentId: 'b', valBpb: 3.1 },
        { experimentId: 'c', valBpb: 3.2 },
      ],
    });
    expect(promotionHolds(3, p!)).toBe(true);
    expect(promotionHolds(3, { ...p!, parent: 'c' })).toBe(false); // not among the best third
  });

  it('refuses impossible strategies in the brief, naming the field', () => {
    const brief = {
      name: 'ASHA sweep',
      brief: 'Which learning rate, found with successive halving?',
      template: 'gpt-char',
      datasetId: 'sotu',
      searchSpace: { lr: { kind: 'log-uniform', min: 1e-4, max: 1e-2 } },
      experiments: 27,
      steps: 50,
      seed: 1,
    };
    const issue = (strategy: unknown, extra = {}) => {
      const r = CampaignBrief.safeParse({ ...brief, ...extra, strategy });
      return r.success ? null : r.error.issues.map((i) => i.path.join('.'));
    };
    expect(issue({ kind: 'asha', eta: 3, maxSteps: 450 })).toBeNull();
    expect(issue({ kind: 'asha', eta: 1, maxSteps: 450 })).toEqual(['strategy.eta']);
    expect(issue({ kind: 'asha', eta: 3, maxSteps: 100 })).toEqual(['strategy.maxSteps']);
    expect(issue({ kind: 'asha', eta: 3, maxSteps: 450 }, { segments: 2 })).toEqual(['segments']);
    expect(issue({ kind: 'asha', eta: 3, maxSteps: 450 }, { experiments: 2 })).toEqual([
      'experiments',
    ]);
    expect(issue({ kind: 'tpe' })).toEqual(['strategy.kind']);
    expect(issue({ kind: 'pbt', generations: 4 })).toBeNull();
    expect(issue({ kind: 'pbt', generations: 1 })).toEqual(['strategy.generations']);
    expect(issue({ kind: 'pbt', generations: 4, quantile: 0.05 })).toEqual(['strategy.quantile']);
    expect(issue({ kind: 'pbt', generations: 4 }, { experiments: 5 })).toEqual(['experiments']);
    expect(CampaignBrief.parse(brief).strategy).toEqual({ kind: 'random' });
  });
});

describe('replaying ASHA decisions', () => {
  const node = (id: string, parentId: string | null, depth: number, valBpb: number | null) => ({
    id,
    parentId,
    depth,
    status: valBpb === null ? 'open' : 'verified',
    valBpb,
    steps: depth ? 60 : 30,
    checkpointSha256: 'c'.repeat(64),
  });
  const strategy = { kind: 'asha' as const, eta: 3, maxSteps: 270 };
  const nodes = [
    node('a', null, 0, 3),
    node('b', null, 0, 3.1),
    node('c', null, 0, 3.2),
    node('a-r1', 'a', 1, null),
  ];
  const decision = {
    experimentId: 'a-r1',
    promotion: ashaPromotions(
      3,
      3,
      nodes.slice(0, 3).map((n) => at(0, n.id, n.valBpb!)),
      new Set(),
    )[0]!,
  };

  it('confirms decisions that follow from verified results', () => {
    expect(replayProblems(strategy, nodes, [decision])).toEqual([]);
  });

  it('finds a decision on another input, a child without one, and a promotion never made', () => {
    const lied = {
      ...decision,
      promotion: {
        ...decision.promotion,
        rung: [{ experimentId: 'a', valBpb: 2 }, ...decision.promotion.rung.slice(1)],
      },
    };
    expect(replayProblems(strategy, nodes, [lied])).toEqual(['a-r1: input a is not verified at 2']);
    expect(replayProblems(strategy, nodes, [])).toEqual(['a-r1: no recorded decision']);
    expect(replayProblems(strategy, nodes.slice(0, 3), [])).toEqual([
      'a: due for promotion from rung 0, not promoted',
    ]);
  });
});
