// Population-based training (Jaderberg et al. 2017) on lineages (docs/strategies.md). A population
// of `experiments` members trains in generations of `steps` each. When a member's generation is
// verified and its checkpoint chosen, it is compared with the members verified at the same
// generation: in the bottom `quantile` it exploits — its next generation continues from a
// top-`quantile` member's verified checkpoint — and explores — that member's learning rate
// multiplied by 0.8 or 1.25; otherwise it continues from its own checkpoint unchanged. Members
// proceed independently: a decision never waits for the rest of its generation (with fewer than
// 1/quantile results to compare, a member continues). Pure: the edge and the replay take the same
// decisions from the same verified results and draws.
import { z } from 'zod';
import { continuationSpec } from './lineage.ts';
import { Rng } from './rng.ts';
import type { ExperimentSpec } from './spec.ts';

export const PbtStrategy = z
  .object({
    kind: z.literal('pbt'),
    generations: z.number().int().min(2).max(50),
    quantile: z.number().min(0.1).max(0.5).default(0.25),
  })
  .strict();
export type PbtStrategy = z.infer<typeof PbtStrategy>;

/** How exploring perturbs the learning rate (lr and minLr alike). */
export const LR_FACTORS = [0.8, 1.25] as const;

export interface MemberResult {
  member: string; // the member's id: its generation-0 experiment
  experimentId: string;
  valBpb: number;
}

export interface PbtDecision {
  member: string;
  generation: number; // the generation just verified; the decision makes generation + 1
  action: 'continue' | 'exploit';
  parent: string; // the experiment the next generation continues from
  lrFactor: number; // 1 unless exploring
  /** The decision's inputs: the generation's verified results then, best first. */
  inputs: { experimentId: string; valBpb: number }[];
}

const byBpb = (a: MemberResult, b: MemberResult) =>
  a.valBpb - b.valBpb ||
  (a.experimentId < b.experimentId ? -1 : a.experimentId > b.experimentId ? 1 : 0);

/**
 * The decision for `member` whose generation `generation` is `own`, given every result verified
 * at that generation (its own included). The draws (which donor, which factor) are seeded by the
 * campaign, member and generation: anyone can take them again.
 */
export function pbtDecision(
  s: Pick<PbtStrategy, 'quantile'>,
  campaignId: string,
  generation: number,
  own: MemberResult,
  results: MemberResult[],
): PbtDecision {
  const ranked = [...results].sort(byBpb);
  const inputs = ranked.map((r) => ({ experimentId: r.experimentId, valBpb: r.valBpb }));
  const cut = Math.floor(ranked.length * s.quantile);
  const base = { member: own.member, generation, inputs };
  const bottom = ranked.slice(ranked.length - cut);
  if (cut < 1 || !bottom.some((r) => r.experimentId === own.experimentId))
    return { ...base, action: 'continue', parent: own.experimentId, lrFactor: 1 };
  const rng = Rng.derive(1, `pbt:${campaignId}:${own.member}:${generation}`);
  const donor = ranked[rng.int(cut)]!;
  return {
    ...base,
    action: 'exploit',
    parent: donor.experimentId,
    lrFactor: LR_FACTORS[rng.int(LR_FACTORS.length)]!,
  };
}

/**
 * The next generation's spec: the decision's parent (the member's own experiment or the donor's)
 * continued from its checkpoint, the learning rate explored by the decision's factor.
 */
export function pbtChildSpec(
  parentSpec: ExperimentSpec,
  d: Pick<PbtDecision, 'parent' | 'lrFactor'>,
  checkpointSha256: string,
): ExperimentSpec {
  return continuationSpec(parentSpec, d.parent, checkpointSha256, {
    lr: Number((parentSpec.train.lr * d.lrFactor).toPrecision(4)),
    minLr: Number((parentSpec.train.minLr * d.lrFactor).toPrecision(4)),
  });
}

/** Whether a recorded decision is the one its inputs give (the replay's check). */
export function pbtDecisionHolds(
  s: Pick<PbtStrategy, 'quantile'>,
  campaignId: string,
  d: PbtDecision,
  own: string,
): boolean {
  const results = d.inputs.map((r) => ({
    member: r.experimentId === own ? d.member : r.experimentId,
    ...r,
  }));
  const again = pbtDecision(
    s,
    campaignId,
    d.generation,
    {
      member: d.member,
      experimentId: own,
      valBpb: d.inputs.find((r) => r.experimentId === own)!.valBpb,
    },
    results,
  );
  return again.action === d.action && again.parent === d.parent && again.lrFactor === d.lrFactor;
}

/** The experiment a decision was taken for: the member's experiment at that generation. */
export const decidedFor = (d: Pick<PbtDecision, 'member' | 'generation'>) =>
  d.generation ? `${d.member}-g${d.generation}` : d.member;

/**
 * Replays a PBT campaign's decisions (`npm run replay`): each must be the one its inputs give, its
 * inputs verified results with their verified val_bpb, its next generation present where it says;
 * and every verified member generation but the last must have its decision. [] when all hold.
 */
export function pbtReplayProblems(
  s: Pick<PbtStrategy, 'quantile' | 'generations'>,
  campaignId: string,
  nodes: {
    id: string;
    parentId: string | null;
    depth: number;
    status: string;
    valBpb: number | null;
  }[],
  decisions: PbtDecision[],
): string[] {
  const problems: string[] = [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const d of decisions) {
    const own = decidedFor(d);
    if (!pbtDecisionHolds(s, campaignId, d, own))
      problems.push(`${own}: the decision is not the one its inputs give`);
    for (const r of d.inputs) {
      const n = byId.get(r.experimentId);
      if (n?.status !== 'verified' || n.valBpb !== r.valBpb)
        problems.push(`${own}: input ${r.experimentId} is not verified at ${r.valBpb}`);
    }
    const next = byId.get(`${d.member}-g${d.generation + 1}`);
    if (next?.parentId !== d.parent) problems.push(`${own}: no next generation from ${d.parent}`);
  }
  const decided = new Set(decisions.map(decidedFor));
  for (const n of nodes)
    if (n.status === 'verified' && n.depth < s.generations - 1 && !decided.has(n.id))
      problems.push(`${n.id}: no recorded decision`);
  return problems;
}
