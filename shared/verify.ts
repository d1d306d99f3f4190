// The verification rule: when do two results of the same spec agree? Backends round differently,
// so results are compared by tolerance on metrics, never by weights (PITFALLS: weights diverge
// 38–55 % while losses agree).

/**
 * Tolerances. First values, from PITFALLS' cross-backend measurements (cpu / wasm / WebGPU within
 * ~1e-6 nats over the first steps; 0.005–0.028 nats of final val loss apart after 400 steps) — to be
 * replaced by the calibration command's figures (trainer issue).
 * TAU_BPB: |Δ final val_bpb| in bits per byte. TAU_CURVE: max |Δ| of the segment-mean training loss.
 */
export const TAU_BPB = 0.04;
export const TAU_CURVE = 0.05;

export interface Comparable {
  valBpb: number;
  curve: number[];
}

export function agree(a: Comparable, b: Comparable): boolean {
  if (!Number.isFinite(a.valBpb) || !Number.isFinite(b.valBpb)) return false;
  if (Math.abs(a.valBpb - b.valBpb) > TAU_BPB) return false;
  if (a.curve.length !== b.curve.length) return false;
  return a.curve.every((x, i) => Math.abs(x - b.curve[i]!) <= TAU_CURVE);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The largest set of results that pairwise agree with its median member, if it holds at least
 * `quorum` results from distinct volunteers. Returns their indices, or null.
 */
export function findQuorum<T extends Comparable & { volunteerId: string }>(
  results: T[],
  quorum = 2,
): number[] | null {
  let best: number[] = [];
  for (let i = 0; i < results.length; i++) {
    const group = results.flatMap((r, j) => (agree(results[i]!, r) ? [j] : []));
    const volunteers = new Set(group.map((j) => results[j]!.volunteerId));
    if (volunteers.size >= quorum && group.length > best.length) best = group;
  }
  return best.length ? best : null;
}
