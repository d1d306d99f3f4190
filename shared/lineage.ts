// Lineages: experiments that continue from a verified checkpoint (docs/lineage.md). A run of S
// steps can be cut into segments that different volunteers train one after another; a segment's
// child starts from exactly the bytes its parent ended with, so the chain equals the run.
import {
  CONTINUATION_MAY_CHANGE,
  endStep,
  scheduleHorizon,
  type ExperimentSpec,
  type TrainConfig,
} from './spec.ts';

/**
 * The first segment of `spec` cut into segments of `segmentSteps`: the same recipe, its learning
 * rate scheduled over the whole run (scheduleSteps), so the chain's steps get the run's rates.
 */
export function segmentRoot(spec: ExperimentSpec, segmentSteps: number): ExperimentSpec {
  if (spec.parent) throw new Error('a lineage is cut from a root run');
  return {
    ...spec,
    train: { ...spec.train, steps: segmentSteps, scheduleSteps: scheduleHorizon(spec) },
  };
}

export type Continuation = Partial<Pick<TrainConfig, (typeof CONTINUATION_MAY_CHANGE)[number]>>;

/**
 * The child that continues `parent` from its final checkpoint (`checkpointSha256`), trained for
 * the parent's segment length unless `changes` say otherwise (what may change: shared/spec.ts).
 */
export function continuationSpec(
  parent: ExperimentSpec,
  parentId: string,
  checkpointSha256: string,
  changes: Continuation = {},
): ExperimentSpec {
  return {
    ...parent,
    train: { ...parent.train, ...changes },
    parent: { experimentId: parentId, step: endStep(parent), checkpointSha256 },
  };
}

/** An experiment's ancestors, root first, and then the experiment itself (from its lineage's nodes). */
export function ancestry<N extends { id: string; parentId: string | null }>(
  nodes: N[],
  id: string,
): N[] {
  const index = new Map(nodes.map((n) => [n.id, n]));
  const out: N[] = [];
  for (let n = index.get(id); n; n = n.parentId ? index.get(n.parentId) : undefined) {
    out.unshift(n);
    if (out.length > nodes.length) break; // a cycle cannot be stored, but never loop on one
  }
  return out;
}
