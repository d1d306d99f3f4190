import { describe, expect, test } from 'vitest';
import type { LineageNode } from '../../../shared/protocol.ts';
import {
  ashaSummary,
  ancestry,
  bestChainFrom,
  bestPath,
  descendants,
  layoutTrees,
  lineageCurve,
} from './lineage.ts';

const node = (
  id: string,
  parentId: string | null,
  depth: number,
  valBpb: number | null,
  startStep = depth * 20,
): LineageNode => ({
  id,
  parentId,
  depth,
  status: valBpb == null ? 'open' : 'verified',
  valBpb,
  startStep,
  steps: 20,
  flops: 1000,
  curve: valBpb == null ? null : [valBpb + 1, valBpb + 0.5],
  curveEvery: 10,
  checkpointSha256: null,
  checkpointKept: false,
});

// a ─ b ─ d        c (a second root)
//    └ e (open)
const nodes = [
  node('a', null, 0, 3),
  node('b', 'a', 1, 2.5),
  node('c', null, 0, 2.9),
  node('d', 'b', 2, 2.2),
  node('e', 'b', 2, null),
];

describe('lineage views', () => {
  test('ancestry runs root first to the experiment; descendants depth first', () => {
    expect(ancestry(nodes, 'd').map((n) => n.id)).toEqual(['a', 'b', 'd']);
    expect(descendants(nodes, 'a').map((n) => n.id)).toEqual(['b', 'd', 'e']);
    expect(descendants(nodes, 'd')).toEqual([]);
  });

  test('the best chain follows the best verified child; the best path leads to the best experiment', () => {
    expect(bestChainFrom(nodes, 'a').map((n) => n.id)).toEqual(['a', 'b', 'd']);
    expect([...bestPath(nodes)]).toEqual(['a', 'b', 'd']);
    expect([...bestPath([node('x', null, 0, null)])]).toEqual([]);
  });

  test("a chain's curve puts each segment's points on the lineage's steps", () => {
    expect(lineageCurve(ancestry(nodes, 'd'))).toEqual({
      steps: [10, 20, 30, 40, 50, 60],
      loss: [4, 3.5, 3.5, 3, 3.2, 2.7],
    });
    expect(lineageCurve([node('e', 'b', 2, null)]).loss).toEqual([null, null]);
  });

  test('trees are laid out one under another, a parent level with its first child', () => {
    const { placed, rows, cols } = layoutTrees(nodes);
    const at = Object.fromEntries(placed.map((p) => [p.node.id, [p.col, p.row]]));
    expect(at).toEqual({ a: [0, 0], b: [1, 0], d: [2, 0], e: [2, 1], c: [0, 2] });
    expect([rows, cols]).toEqual([3, 3]);
  });
});

test("an ASHA campaign's rungs, and its compute against random search's", () => {
  const r0 = ['a', 'b', 'c'].map((id, i) => node(id, null, 0, 3 + i / 10));
  const all = [...r0, node('a-r1', 'a', 1, null)];
  expect(ashaSummary(all, [20, 60])).toEqual({
    rows: [
      { rung: 0, steps: 20, verified: 3, training: 0, promoted: 1 },
      { rung: 1, steps: 60, verified: 0, training: 1, promoted: 0 },
    ],
    spentFlops: 3000,
    randomFlops: 9000, // three configurations trained to 60 steps at 1000 FLOPs per 20
  });
});
