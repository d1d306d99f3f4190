// ASHA (Li et al. 2018, "A System for Massively Parallel Hyperparameter Tuning"): asynchronous
// successive halving on lineages (docs/strategies.md). Rung k trains a configuration to
// minSteps · η^k steps; a configuration is promoted from rung k as soon as it is among the best
// ⌊n_k / η⌋ of the n_k configurations verified at rung k — no barrier, so a slow or vanished
// volunteer never stalls the others. A promotion continues the configuration from its own verified
// checkpoint (a child experiment), so no step is trained twice. Pure: the same verified results
// give the same promotions on the edge and in the replay command.
import { z } from 'zod';
import { PbtStrategy } from './pbt.ts';

export const AshaStrategy = z
  .object({
    kind: z.literal('asha'),
    eta: z.number().int().min(2).max(8), // the reduction factor η
    maxSteps: z.number().int().min(20).max(20000), // the top rung's steps (rung 0's are the brief's)
  })
  .strict();
export type AshaStrategy = z.infer<typeof AshaStrategy>;

export const Strategy = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('random') }).strict(),
  AshaStrategy,
  PbtStrategy,
]);
export type Strategy = z.infer<typeof Strategy>;

/** The rungs' cumulative steps: minSteps · η^k up to maxSteps (at least two, or null). */
export function rungSteps(minSteps: number, s: Pick<AshaStrategy, 'eta' | 'maxSteps'>): number[] {
  const out = [minSteps];
  if (!(s.eta >= 2) || !(minSteps >= 1)) return out; // refused by the schema; never loop on it
  while (out.at(-1)! * s.eta <= s.maxSteps) out.push(out.at(-1)! * s.eta);
  return out;
}

/** A configuration's verified result at a rung: its experiment there and its val_bpb. */
export interface RungResult {
  config: string; // the configuration's root experiment
  rung: number;
  experimentId: string;
  valBpb: number;
}

export interface Promotion {
  config: string;
  fromRung: number;
  parent: string; // the experiment at fromRung that the promoted one continues
  /** The decision's inputs: every result verified at that rung then, best first. */
  rung: { experimentId: string; valBpb: number }[];
}

/** Rung k's results best first: lower val_bpb, ties by experiment id. */
function ranked(results: RungResult[], k: number): RungResult[] {
  return results
    .filter((r) => r.rung === k)
    .sort(
      (a, b) =>
        a.valBpb - b.valBpb ||
        (a.experimentId < b.experimentId ? -1 : a.experimentId > b.experimentId ? 1 : 0),
    );
}

/**
 * The promotions ASHA makes now: at each rung but the top, the configurations among the best
 * ⌊n/η⌋ of the n verified there that are not promoted yet (`promoted`: parent experiment ids).
 */
export function ashaPromotions(
  eta: number,
  rungs: number,
  results: RungResult[],
  promoted: ReadonlySet<string>,
): Promotion[] {
  const out: Promotion[] = [];
  for (let k = 0; k < rungs - 1; k++) {
    const at = ranked(results, k);
    const inputs = at.map((r) => ({ experimentId: r.experimentId, valBpb: r.valBpb }));
    for (const r of at.slice(0, Math.floor(at.length / eta)))
      if (!promoted.has(r.experimentId))
        out.push({ config: r.config, fromRung: k, parent: r.experimentId, rung: inputs });
  }
  return out;
}

/** Whether a recorded promotion follows from its recorded inputs (the replay's check). */
export function promotionHolds(eta: number, p: Promotion): boolean {
  const best = [...p.rung]
    .sort(
      (a, b) =>
        a.valBpb - b.valBpb ||
        (a.experimentId < b.experimentId ? -1 : a.experimentId > b.experimentId ? 1 : 0),
    )
    .slice(0, Math.floor(p.rung.length / eta));
  return best.some((r) => r.experimentId === p.parent);
}

/** What the replay knows of an experiment: the lineage view's fields it needs. */
export interface ReplayNode {
  id: string;
  parentId: string | null;
  depth: number;
  status: string;
  valBpb: number | null;
  steps: number;
  checkpointSha256: string | null;
}

/**
 * Replays a campaign's ASHA decisions (`npm run replay`): every recorded promotion must follow from
 * its inputs, its inputs must be verified results with their verified val_bpb, its child must exist
 * where it says, every child must have a decision, and no promotion the verified results call for
 * may be missing (but those whose checkpoint is not chosen yet). Returns the problems, [] when all hold.
 */
export function replayProblems(
  strategy: AshaStrategy,
  nodes: ReplayNode[],
  promotions: { experimentId: string; promotion: Promotion }[],
): string[] {
  const problems: string[] = [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const roots = nodes.filter((n) => n.depth === 0);
  if (!roots.length) return problems;
  const rungs = rungSteps(roots[0]!.steps, strategy).length;
  for (const { experimentId, promotion: p } of promotions) {
    if (!promotionHolds(strategy.eta, p))
      problems.push(`${experimentId}: ${p.parent} is not among the best ⌊n/η⌋ of its inputs`);
    for (const r of p.rung) {
      const n = byId.get(r.experimentId);
      if (n?.status !== 'verified' || n.valBpb !== r.valBpb)
        problems.push(`${experimentId}: input ${r.experimentId} is not verified at ${r.valBpb}`);
    }
    const child = byId.get(experimentId);
    if (!child || child.parentId !== p.parent || child.depth !== p.fromRung + 1)
      problems.push(`${experimentId}: no child of ${p.parent} at rung ${p.fromRung + 1}`);
  }
  const decided = new Set(promotions.map((p) => p.experimentId));
  for (const n of nodes)
    if (n.depth > 0 && !decided.has(n.id)) problems.push(`${n.id}: no recorded decision`);
  const verified = nodes.flatMap((n) =>
    n.status === 'verified' && n.valBpb !== null
      ? [{ config: n.id, rung: n.depth, experimentId: n.id, valBpb: n.valBpb }]
      : [],
  );
  const parents = new Set(nodes.flatMap((n) => (n.parentId ? [n.parentId] : [])));
  for (const p of ashaPromotions(strategy.eta, rungs, verified, parents))
    if (byId.get(p.parent)?.checkpointSha256)
      problems.push(`${p.parent}: due for promotion from rung ${p.fromRung}, not promoted`);
  return problems;
}
