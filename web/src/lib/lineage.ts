// Lineages as the pages draw them (docs/lineage.md): an experiment's ancestors and descendants, the
// loss curve of a whole lineage across its segments, and a campaign's lineages laid out as trees.
import { ancestry } from '../../../shared/lineage.ts';
import type { LineageNode } from '../../../shared/protocol.ts';

export { ancestry };

const byId = (nodes: LineageNode[]) => new Map(nodes.map((n) => [n.id, n]));

/** Children of each experiment, ordered by id (the order they were created in a chain). */
function childrenOf(nodes: LineageNode[]): Map<string, LineageNode[]> {
  const out = new Map<string, LineageNode[]>();
  for (const n of [...nodes].sort((a, b) => (a.id < b.id ? -1 : 1)))
    if (n.parentId) out.set(n.parentId, [...(out.get(n.parentId) ?? []), n]);
  return out;
}

/** Every descendant of the experiment, depth first. */
export function descendants(nodes: LineageNode[], id: string): LineageNode[] {
  const kids = childrenOf(nodes);
  const out: LineageNode[] = [];
  const walk = (at: string) => {
    for (const c of kids.get(at) ?? []) {
      out.push(c);
      walk(c.id);
    }
  };
  walk(id);
  return out;
}

/** Lower is better; unverified experiments sort after every verified one. */
const score = (n: LineageNode) =>
  n.status === 'verified' && n.valBpb != null ? n.valBpb : Infinity;

/** From the experiment down, always into its best child: the lineage's continuation. */
export function bestChainFrom(nodes: LineageNode[], id: string): LineageNode[] {
  const kids = childrenOf(nodes);
  const start = byId(nodes).get(id);
  const out = start ? [start] : [];
  for (let at = start; at;) {
    const next = [...(kids.get(at.id) ?? [])].sort((a, b) => score(a) - score(b))[0];
    if (next) out.push(next);
    at = next;
  }
  return out;
}

/** A chain's loss curve on its lineage's steps: each verified segment's points where they fall. */
export function lineageCurve(chain: LineageNode[]): { steps: number[]; loss: (number | null)[] } {
  const steps: number[] = [];
  const loss: (number | null)[] = [];
  for (const n of chain) {
    const points = Math.ceil(n.steps / n.curveEvery);
    for (let i = 0; i < points; i++) {
      steps.push(n.startStep + Math.min(n.steps, (i + 1) * n.curveEvery));
      loss.push(n.curve?.[i] ?? null);
    }
  }
  return { steps, loss };
}

/** The path from a root to the campaign's best verified experiment (empty when none is verified). */
export function bestPath(nodes: LineageNode[]): Set<string> {
  const best = [...nodes].sort((a, b) => score(a) - score(b) || (a.id < b.id ? -1 : 1))[0];
  return new Set(best && score(best) < Infinity ? ancestry(nodes, best.id).map((n) => n.id) : []);
}

export interface Placed {
  node: LineageNode;
  col: number; // depth
  row: number; // leaves take one row each, a parent sits level with its first child
}

/** A tree per root, one under the other: leaves in order, each parent on its first child's row. */
export function layoutTrees(nodes: LineageNode[]): {
  placed: Placed[];
  rows: number;
  cols: number;
} {
  const kids = childrenOf(nodes);
  const placed: Placed[] = [];
  let next = 0;
  const place = (n: LineageNode): number => {
    const children = kids.get(n.id) ?? [];
    const row = children.length ? children.map(place)[0]! : next++;
    placed.push({ node: n, col: n.depth, row });
    return row;
  };
  for (const root of nodes.filter((n) => !n.parentId).sort((a, b) => (a.id < b.id ? -1 : 1)))
    place(root);
  return {
    placed,
    rows: next,
    cols: Math.max(0, ...placed.map((p) => p.col)) + 1,
  };
}

export interface RungRow {
  rung: number;
  steps: number; // a configuration's steps once it reaches the rung
  verified: number;
  training: number; // created, not yet verified
  promoted: number; // continued to the next rung
}

/**
 * An ASHA campaign at a glance (docs/strategies.md): per rung, the configurations verified, still
 * training and promoted; the compute spent on verified experiments; and what random search would
 * spend to train every configuration to the top rung.
 */
export function ashaSummary(
  nodes: LineageNode[],
  rungs: number[],
): { rows: RungRow[]; spentFlops: number; randomFlops: number } {
  const parents = new Set(nodes.flatMap((n) => (n.parentId ? [n.parentId] : [])));
  const rows = rungs.map((steps, rung) => {
    const at = nodes.filter((n) => n.depth === rung);
    return {
      rung,
      steps,
      verified: at.filter((n) => n.status === 'verified').length,
      training: at.filter((n) => n.status === 'open').length,
      promoted: at.filter((n) => parents.has(n.id)).length,
    };
  });
  const roots = nodes.filter((n) => n.depth === 0);
  return {
    rows,
    spentFlops: nodes.filter((n) => n.status === 'verified').reduce((a, n) => a + n.flops, 0),
    randomFlops: roots.reduce((a, n) => a + (n.flops * rungs.at(-1)!) / n.steps, 0),
  };
}
