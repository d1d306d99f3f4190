// The research campaign's report (scripts/research.ts): every configuration's val_bpb at each rung,
// ASHA's promotions, the configuration found, and both recipes' val_bpb over the seeds that
// finished — as one JSON object and as a plain table.
import { parameterCount } from '../../shared/spec.ts';
import { median } from '../gpu/steps.ts';
import { foundSeeds, meanSd, searchState, type JobResult, type Plan } from './research-plan.ts';

/** nanoGPT's recipe over 5 seeds in PyTorch on the pinned windows (scripts/reference/nanogpt_seeds.py). */
export const NANOGPT_PYTORCH = { mean: 2.731, sd: 0.013, n: 5 };
export const TARGET_BPB = 2.65; // issue 15, item 6

export interface RunInfo {
  wallMs: number;
  loads: number[];
  workers: number;
}

export function researchSummary(plan: Plan, results: Record<string, JobResult>, info: RunInfo) {
  const state = searchState(plan, results);
  const configs = plan.configs.map((s, i) => ({
    id: `c${i}`,
    nLayer: s.model.nLayer,
    nEmbd: s.model.nEmbd,
    params: parameterCount(s.model),
    lr: s.train.lr,
    minLr: s.train.minLr,
    warmupSteps: s.train.warmupSteps,
    weightDecay: s.train.weightDecay,
    beta2: s.train.beta2,
    valBpb: plan.rungs.map((_, k) => results[`c${i}-r${k}`]?.valBpb ?? null),
  }));
  const over = (prefix: string, planned: number[]) => {
    const seeds = planned.filter((s) => results[`${prefix}-s${s}`]);
    const valBpb = seeds.map((s) => results[`${prefix}-s${s}`]!.valBpb);
    return { seeds, valBpb, ...(valBpb.length ? meanSd(valBpb) : { mean: null, sd: null, n: 0 }) };
  };
  const found = over('found', state.found === null ? [] : foundSeeds(plan, state.found));
  const all = Object.values(results);
  return {
    brief: plan.brief.name,
    backend: 'tfjs-wasm, 1 thread a process (Node)',
    workers: info.workers,
    rungs: plan.rungs,
    evalSteps: plan.evalSteps,
    paramCap: plan.paramCap,
    configs,
    promotions: state.promotions.map((p) => ({ config: `c${p.config}`, fromRung: p.fromRung })),
    found: state.found === null ? null : { config: `c${state.found}`, ...found },
    nanogpt: over('default', plan.seeds),
    nanogptPytorch: NANOGPT_PYTORCH,
    target: TARGET_BPB,
    met: found.mean !== null && found.n === plan.seeds.length ? found.mean <= TARGET_BPB : null,
    trainings: all.length,
    trainMinutes: all.reduce((a, r) => a + r.wallMs, 0) / 60_000,
    wallMinutes: info.wallMs / 60_000,
    load: {
      median: info.loads.length ? median(info.loads) : null,
      max: info.loads.length ? Math.max(...info.loads) : null,
    },
  };
}

export type ResearchSummary = ReturnType<typeof researchSummary>;

const f = (x: number | null, d = 4) => (x === null ? '—' : x.toFixed(d));

/** The human table: configurations by rung, then both recipes over the seeds. */
export function summaryTable(s: ResearchSummary): string {
  const lines = [
    `config  layers×width  params  lr       minLr    warmup  wd     β₂     ${s.rungs.map((r) => `@${r}`.padEnd(8)).join('')}`,
  ];
  for (const c of s.configs)
    lines.push(
      `${c.id.padEnd(7)} ${`${c.nLayer}×${c.nEmbd}`.padEnd(13)} ${String(c.params).padEnd(7)} ${c.lr.toExponential(2).padEnd(8)} ${c.minLr.toExponential(2).padEnd(8)} ${String(c.warmupSteps).padEnd(7)} ${c.weightDecay.toFixed(3).padEnd(6)} ${String(c.beta2).padEnd(6)} ${c.valBpb.map((v) => f(v).padEnd(8)).join('')}`,
    );
  const row = (name: string, r: { mean: number | null; sd: number | null; n: number }) =>
    `${name}: val_bpb ${f(r.mean)} ± ${f(r.sd)} over ${r.n} seeds`;
  if (s.found) lines.push(row(`found (${s.found.config})`, s.found));
  lines.push(row('nanoGPT default', s.nanogpt));
  lines.push(
    `target ≤ ${s.target}: ${s.met === null ? 'not decided' : s.met ? 'met' : 'not met'}; wall ${s.wallMinutes.toFixed(1)} min, load median ${f(s.load.median, 2)}`,
  );
  return lines.join('\n');
}
