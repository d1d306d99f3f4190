// The verification rule: when do two results of the same spec agree? Backends round differently,
// so results are compared by tolerance on metrics, never by weights (docs/backends.md: weights diverge
// 38–55 % while losses agree).

/**
 * Tolerances, calibrated 2026-12-06 by `npm run calibrate` (19 min in Chromium and Firefox ESR on a
 * 2-core Linux machine; TF.js 4.22; presets tiny,demo on sotu; seeds 1, 2, 3).
 * Backends: Chromium wasm/cpu/webgpu; Firefox wasm/wasm-threads/webgl/cpu (wasm: not cross-origin
 * isolated, the single-threaded build; wasm-threads: the threaded build, 2 threads; webgl:
 * llvmpipe on Xvfb, float32 render targets). Browsers: chromium/156.0.8078.114, firefox/153.8.0.
 * Chromium and Firefox on the same backend agree to the bit in 12 of 12 pairs.
 * Pairs of runs:
 * (median, then the end that matters)          |Δ final val_bpb|           max |Δ curve|
 * the same experiment, two implementations — must agree:
 * other backend, same engine                    1.0e-6 max 7.4e-6     2.7e-7 max 3.5e-6   (22)
 * other engine (Chromium vs Firefox)            3.4e-7 max 7.4e-6     1.4e-7 max 3.5e-6   (33)
 * PyTorch, same weights and batches             8.6e-7 max 6.0e-6     1.5e-6 max 1.1e-5   (6)
 * different experiments — should not:
 * another seed                                   0.019 min 0.0049      0.068 min 0.022    (6)
 * same weights, another batch order             0.0062 min 0.0017      0.064 min 0.019    (6)
 * same batches, other initial weights            0.015 min 0.0028      0.027 min 0.0069   (6)
 * Each tolerance is 1/3 of the smallest gap between different experiments (or the geometric mean of
 * the two ends when they are closer than 9×): TAU_BPB is 76× and TAU_CURVE 203× the largest
 * honest gap, room for the GPUs this machine cannot test; together they reject 18/18 of the pairs
 * of different experiments. Honest gaps grow slowly with training: nanogpt-cpu after 2,000 steps, WASM
 * vs PyTorch, 4e-7 (npm run bench:train -- --steps 2000). Re-run when presets change.
 * TAU_BPB: |Δ final val_bpb| in bits per byte. TAU_CURVE: max |Δ| of the segment-mean training loss.
 */
export const TAU_BPB = 0.00056;
export const TAU_CURVE = 0.0022;

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
