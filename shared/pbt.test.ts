// PBT's rule, pure: who exploits whom and with which perturbation, reproducibly; the replay's check.
import { describe, expect, it } from 'vitest';
import { PRESETS } from './model/presets.ts';
import {
  LR_FACTORS,
  pbtChildSpec,
  pbtDecision,
  pbtDecisionHolds,
  pbtReplayProblems,
  type MemberResult,
} from './pbt.ts';

const r = (member: string, valBpb: number, g = 0): MemberResult => ({
  member,
  experimentId: g ? `${member}-g${g}` : member,
  valBpb,
});
const s = { quantile: 0.25 };

describe('PBT', () => {
  const gen = [r('a', 3), r('b', 3.1), r('c', 3.2), r('d', 3.3)];

  it('continues a member that is not in the bottom quantile, or when too few results are in to judge', () => {
    expect(pbtDecision(s, 'C', 0, gen[1]!, gen)).toMatchObject({
      action: 'continue',
      parent: 'b',
      lrFactor: 1,
    });
    expect(pbtDecision(s, 'C', 0, gen[2]!, gen.slice(0, 3))).toMatchObject({ action: 'continue' });
  });

  it('lets the bottom quantile exploit a top-quantile member and explore its learning rate, reproducibly', () => {
    const d = pbtDecision(s, 'C', 0, gen[3]!, gen);
    expect(d).toMatchObject({ member: 'd', generation: 0, action: 'exploit', parent: 'a' });
    expect(LR_FACTORS).toContain(d.lrFactor);
    expect(pbtDecision(s, 'C', 0, gen[3]!, [...gen].reverse())).toEqual(d); // order of arrival: same
    expect(pbtDecisionHolds(s, 'C', d, 'd')).toBe(true);
    expect(pbtDecisionHolds(s, 'C', { ...d, parent: 'b' }, 'd')).toBe(false);
    expect(
      pbtDecisionHolds(s, 'C', { ...d, action: 'continue', parent: 'd', lrFactor: 1 }, 'd'),
    ).toBe(false);
    // Eight members: the bottom two exploit the top two; draws differ across members and generations.
    const eight = Array.from({ length: 8 }, (_, i) => r(`m${i}`, 3 + i / 10, 1));
    const picks = ['m6', 'm7'].map((m) =>
      pbtDecision(
        s,
        'C',
        1,
        eight.find((x) => x.member === m)!,
        eight,
      ),
    );
    for (const p of picks) expect(['m0-g1', 'm1-g1']).toContain(p.parent);
  });

  it("continues the parent's spec from its checkpoint, the learning rate explored by the factor", () => {
    const { model, train, evalWindows } = PRESETS.tiny;
    const donor = {
      template: 'gpt-char' as const,
      dataset: { id: 'test', sha256: 'a'.repeat(64) },
      model: { ...model, vocabSize: 65 },
      train: { ...train, steps: 10, scheduleSteps: 30 },
      seed: 1,
      evalWindows,
    };
    const child = pbtChildSpec(donor, { parent: 'a', lrFactor: 1.25 }, 'b'.repeat(64));
    expect(child.parent).toEqual({ experimentId: 'a', step: 10, checkpointSha256: 'b'.repeat(64) });
    expect(child.train).toEqual({ ...donor.train, lr: 3.75e-3, minLr: 3.75e-4 });
    expect(pbtChildSpec(donor, { parent: 'a', lrFactor: 1 }, 'b'.repeat(64)).train).toEqual(
      donor.train,
    );
  });
});

describe('replaying PBT decisions', () => {
  const gen = [r('a', 3), r('b', 3.1), r('c', 3.2), r('d', 3.3)];
  const nodes = [
    ...gen.map((g) => ({
      id: g.member,
      parentId: null,
      depth: 0,
      status: 'verified',
      valBpb: g.valBpb,
    })),
    ...['a', 'b', 'c'].map((m) => ({
      id: `${m}-g1`,
      parentId: m,
      depth: 1,
      status: 'open',
      valBpb: null,
    })),
    { id: 'd-g1', parentId: 'a', depth: 1, status: 'open', valBpb: null },
  ];
  const decisions = gen.map((g) => pbtDecision(s, 'C', 0, g, gen));
  const strategy = { quantile: 0.25, generations: 3 };

  it('confirms decisions that follow from verified results', () => {
    expect(pbtReplayProblems(strategy, 'C', nodes, decisions)).toEqual([]);
  });

  it('finds a forged decision, another next generation, and a missing decision', () => {
    const forged = decisions.map((d) =>
      d.member === 'c' ? { ...d, action: 'exploit' as const, parent: 'a', lrFactor: 0.8 } : d,
    );
    expect(pbtReplayProblems(strategy, 'C', nodes, forged)).toEqual([
      'c: the decision is not the one its inputs give',
      'c: no next generation from a',
    ]);
    expect(pbtReplayProblems(strategy, 'C', nodes, decisions.slice(1))).toEqual([
      'a: no recorded decision',
    ]);
  });
});
