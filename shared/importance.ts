// Which hyperparameters matter: a one-way variance decomposition of val_bpb ("fANOVA-lite"). For
// each hyperparameter alone, the share of val_bpb's variance that its main effect explains.
// Cheaper and cruder than fANOVA (Hutter, Hoos & Leyton-Brown 2014, which fits a random forest and
// integrates out the other parameters): no interactions, and correlated parameters share credit.
import { SEARCHABLE, type Searchable } from './search-space.ts';
import type { ExperimentSpec } from './spec.ts';

export const IMPORTANCE_METHOD =
  'One-way variance decomposition (fANOVA-lite): for each hyperparameter on its own, ε² — the ' +
  'bias-corrected share of val_bpb variance explained by its main effect — with values grouped into ' +
  'at most 8 quantile bins. Shares need not sum to 100 %: interactions and noise take the rest.';

/** Most levels per parameter: more bins than this over a few hundred runs mostly fit noise. */
const MAX_LEVELS = 8;

/** A spec's searchable hyperparameters as one flat record (minLrRatio = minLr / lr). */
export function hyperparameters(spec: ExperimentSpec): Record<Searchable, number> {
  const { model: m, train: t } = spec;
  return {
    lr: t.lr,
    minLrRatio: Number((t.minLr / t.lr).toPrecision(4)),
    warmupSteps: t.warmupSteps,
    batchSize: t.batchSize,
    weightDecay: t.weightDecay,
    beta2: t.beta2,
    nLayer: m.nLayer,
    nHead: m.nHead,
    nEmbd: m.nEmbd,
    blockSize: m.blockSize,
    dropout: m.dropout,
  };
}

export interface ParameterImportance {
  parameter: Searchable;
  share: number; // ε², clipped to [0, 1]
  eta2: number; // η² = SS_between / SS_total, before the bias correction
  levels: number; // groups the values fell into
}

export interface ImportanceReport {
  method: string;
  n: number; // experiments used
  parameters: ParameterImportance[]; // the parameters that vary, most important first
}

/** Level index of each value: its distinct value when there are few, else its quantile bin. */
function levelsOf(xs: number[]): { level: number[]; count: number } {
  const distinct = [...new Set(xs)].sort((a, b) => a - b);
  if (distinct.length <= MAX_LEVELS) {
    const index = new Map(distinct.map((v, i) => [v, i]));
    return { level: xs.map((x) => index.get(x)!), count: distinct.length };
  }
  const k = Math.min(MAX_LEVELS, Math.max(2, Math.floor(Math.sqrt(xs.length))));
  const sorted = [...xs].sort((a, b) => a - b);
  // Upper edges at the k-quantiles; equal values always land in the same bin.
  const edges = Array.from(
    { length: k - 1 },
    (_, i) => sorted[Math.floor(((i + 1) * xs.length) / k)]!,
  );
  const level = xs.map((x) => edges.filter((e) => x >= e).length);
  const used = [...new Set(level)].sort((a, b) => a - b);
  const renumber = new Map(used.map((l, i) => [l, i]));
  return { level: level.map((l) => renumber.get(l)!), count: used.length };
}

/** ε² and η² of y grouped by `level` (Kelley 1935; ε² = (SS_b − df_b·MS_w) / SS_t). */
function varianceShare(y: number[], level: number[], k: number): { share: number; eta2: number } {
  const n = y.length;
  const mean = y.reduce((a, b) => a + b, 0) / n;
  const ssTotal = y.reduce((a, v) => a + (v - mean) ** 2, 0);
  if (ssTotal === 0 || n <= k) return { share: 0, eta2: 0 };
  const sums = new Array<number>(k).fill(0);
  const counts = new Array<number>(k).fill(0);
  level.forEach((l, i) => {
    sums[l]! += y[i]!;
    counts[l]! += 1;
  });
  const ssBetween = sums.reduce((a, s, l) => a + counts[l]! * (s / counts[l]! - mean) ** 2, 0);
  const msWithin = (ssTotal - ssBetween) / (n - k);
  const share = (ssBetween - (k - 1) * msWithin) / ssTotal;
  return { share: Math.min(1, Math.max(0, share)), eta2: ssBetween / ssTotal };
}

/** The importance of every hyperparameter that varies across these verified experiments. */
export function parameterImportance(
  points: { spec: ExperimentSpec; valBpb: number }[],
): ImportanceReport {
  const configs = points.map((p) => hyperparameters(p.spec));
  const y = points.map((p) => p.valBpb);
  const parameters: ParameterImportance[] = [];
  for (const parameter of Object.keys(SEARCHABLE) as Searchable[]) {
    const xs = configs.map((c) => c[parameter]);
    const { level, count } = levelsOf(xs);
    if (count < 2) continue;
    parameters.push({ parameter, levels: count, ...varianceShare(y, level, count) });
  }
  parameters.sort((a, b) => b.share - a.share || b.eta2 - a.eta2);
  return { method: IMPORTANCE_METHOD, n: points.length, parameters };
}

/** Best val_bpb so far at each verification, in time order: the campaign's progress curve. */
export function bestSoFar(
  points: { verifiedAt: number; valBpb: number }[],
): { t: number; best: number }[] {
  const out: { t: number; best: number }[] = [];
  let best = Infinity;
  for (const p of [...points].sort((a, b) => a.verifiedAt - b.verifiedAt)) {
    if (p.valBpb < best) {
      best = p.valBpb;
      out.push({ t: p.verifiedAt, best });
    }
  }
  return out;
}
