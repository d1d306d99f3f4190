// The research campaign's plan (`npm run research`, README "Research result"): which trainings
// exist and which may start now, as a pure function of the brief and the results so far — so a
// killed run resumes from its results file alone. ASHA's rungs and promotions are shared/asha.ts's
// own rule; a promotion continues its configuration from its own final checkpoint
// (shared/lineage.ts), so no step is trained twice.
import {
  ashaPromotions,
  rungSteps,
  type AshaStrategy,
  type RungResult,
} from '../../shared/asha.ts';
import { continuationSpec } from '../../shared/lineage.ts';
import { PRESETS } from '../../shared/model/presets.ts';
import { CampaignBrief, sampleExperiments, type DatasetInfo } from '../../shared/search-space.ts';
import { parameterCount, type ExperimentSpec } from '../../shared/spec.ts';

export interface PlanOptions {
  configs: number; // configurations at rung 0
  seeds: number[]; // the evaluation's seeds, the same for both recipes
  stepsScale: number; // 1 for the real run; a small fraction tries the pipeline
}

export interface Plan {
  brief: CampaignBrief;
  strategy: AshaStrategy;
  rungs: number[]; // cumulative steps of each rung
  evalSteps: number; // nanoGPT's budget (2,000 steps), scaled
  paramCap: number; // the nanogpt-cpu preset's parameter count
  configs: ExperimentSpec[]; // rung 0's experiments
  seeds: number[];
  dataset: DatasetInfo;
}

export interface JobResult {
  valBpb: number;
  valLoss: number;
  wallMs: number; // this job's training time, across restarts
  checkpointSha256: string | null; // its final checkpoint's commitment, kept when a child may need it
}

export interface Job {
  id: string; // c<i>-r<k> (search), found-s<seed>, default-s<seed>
  spec: ExperimentSpec;
  parent: string | null; // the job whose final checkpoint this one continues
  keepCheckpoint: boolean; // a later rung may continue from it
}

const NANOGPT = PRESETS['nanogpt-cpu'];

/** The default recipe (nanoGPT's CPU command, shared/model/presets.ts) for one seed. */
function nanogptSpec(plan: Pick<Plan, 'dataset' | 'evalSteps'>, seed: number): ExperimentSpec {
  const warmupSteps = Math.min(NANOGPT.train.warmupSteps, plan.evalSteps);
  return {
    template: 'gpt-char',
    dataset: plan.dataset.ref,
    model: { ...NANOGPT.model, vocabSize: plan.dataset.vocabSize },
    train: { ...NANOGPT.train, steps: plan.evalSteps, warmupSteps, curveEvery: 100 },
    seed,
    evalWindows: NANOGPT.evalWindows,
  };
}

/**
 * The brief's first `configs` sampled configurations within the parameter cap (the brief's ranges
 * are independent, so depth × width can overshoot it: those draws are skipped), each with the
 * preset's 256 pinned evaluation windows and the schedule spanning nanoGPT's full budget.
 */
export function researchPlan(raw: unknown, dataset: DatasetInfo, opts: PlanOptions): Plan {
  const parsed = CampaignBrief.parse(raw);
  if (parsed.strategy.kind !== 'asha') throw new Error('the research brief runs ASHA');
  const scale = (n: number) => Math.max(1, Math.round(n * opts.stepsScale));
  const strategy = { ...parsed.strategy, maxSteps: scale(parsed.strategy.maxSteps) };
  const brief = { ...parsed, steps: scale(parsed.steps), strategy };
  const evalSteps = strategy.maxSteps;
  const paramCap = parameterCount({ ...NANOGPT.model, vocabSize: dataset.vocabSize });
  const drawn = sampleExperiments(
    { ...brief, experiments: Math.min(1000, opts.configs * 8) },
    dataset,
  );
  const configs = drawn
    .filter((s) => parameterCount(s.model) <= paramCap)
    .slice(0, opts.configs)
    .map((s) => ({
      ...s,
      train: { ...s.train, scheduleSteps: evalSteps },
      evalWindows: NANOGPT.evalWindows,
    }));
  if (configs.length < opts.configs)
    throw new Error(`only ${configs.length} sampled configurations fit ${paramCap} parameters`);
  const rungs = rungSteps(brief.steps, strategy);
  if (rungs.at(-1)! >= evalSteps) throw new Error('the top rung must stop short of maxSteps');
  return { brief, strategy, rungs, evalSteps, paramCap, configs, seeds: opts.seeds, dataset };
}

/** The verified-style results of each rung, as shared/asha.ts takes them. */
function rungResults(plan: Plan, results: Record<string, JobResult>): RungResult[] {
  return plan.configs.flatMap((_, i) =>
    plan.rungs.flatMap((_, k) => {
      const r = results[`c${i}-r${k}`];
      return r ? [{ config: `c${i}`, rung: k, experimentId: `c${i}-r${k}`, valBpb: r.valBpb }] : [];
    }),
  );
}

export interface SearchState {
  members: number[][]; // configuration indices at each rung reached so far
  promotions: {
    config: number;
    fromRung: number;
    rung: { experimentId: string; valBpb: number }[];
  }[];
  found: number | null; // the best at the top rung once complete, or its only configuration
}

/**
 * Rung by rung: once every member of rung k has its result, ASHA's rule promotes the best ⌊n/η⌋
 * (a fleet as large as the rung would see the same results before deciding).
 */
export function searchState(plan: Plan, results: Record<string, JobResult>): SearchState {
  const all = rungResults(plan, results);
  const members: number[][] = [plan.configs.map((_, i) => i)];
  const promotions: SearchState['promotions'] = [];
  for (let k = 0; k < plan.rungs.length; k++) {
    const at = all.filter((r) => r.rung === k);
    // A top rung of one configuration has decided already: its result is reported, not compared.
    const sole = k === plan.rungs.length - 1 && members[k]!.length === 1 ? members[k]![0]! : null;
    if (at.length < members[k]!.length) return { members, promotions, found: sole };
    if (k === plan.rungs.length - 1) {
      const best = [...at].sort((a, b) => a.valBpb - b.valBpb)[0];
      return { members, promotions, found: best ? Number(best.config.slice(1)) : null };
    }
    const up = ashaPromotions(plan.strategy.eta, plan.rungs.length, at, new Set());
    for (const p of up)
      promotions.push({ config: Number(p.config.slice(1)), fromRung: k, rung: p.rung });
    members.push(up.map((p) => Number(p.config.slice(1))));
  }
  return { members, promotions, found: null };
}

/** A configuration's spec at rung k: rung 0's, or a continuation of its rung k−1 checkpoint. */
function rungSpec(
  plan: Plan,
  results: Record<string, JobResult>,
  i: number,
  k: number,
): ExperimentSpec {
  let spec = plan.configs[i]!;
  for (let j = 1; j <= k; j++) {
    const parent = `c${i}-r${j - 1}`;
    const sha = results[parent]?.checkpointSha256;
    if (!sha) throw new Error(`${parent} has no final checkpoint`);
    spec = continuationSpec(spec, parent, sha, { steps: plan.rungs[j]! - plan.rungs[j - 1]! });
  }
  return spec;
}

/**
 * The found recipe's seeds: its own lineage's (the ASHA run continued past the top rung to the full
 * budget — one run, bit for bit: docs/lineage.md), then the first of the evaluation's seeds.
 */
export function foundSeeds(plan: Plan, found: number): number[] {
  return [plan.configs[found]!.seed, ...plan.seeds.slice(0, plan.seeds.length - 1)];
}

/**
 * What may start now, most urgent first: the search's rungs; once the found recipe is decided, its
 * lineage's last stretch and its other seeds; then nanoGPT's seeds (never before: on a shared
 * machine they would slow the search, not fill idle time).
 */
export function runnableJobs(plan: Plan, results: Record<string, JobResult>): Job[] {
  const state = searchState(plan, results);
  const jobs: Job[] = state.members.flatMap((configs, k) =>
    configs.map((i) => ({
      id: `c${i}-r${k}`,
      spec: rungSpec(plan, results, i, k),
      parent: k ? `c${i}-r${k - 1}` : null,
      keepCheckpoint: true,
    })),
  );
  if (state.found !== null) {
    const i = state.found;
    const [own, ...fresh] = foundSeeds(plan, i);
    const k = plan.rungs.length - 1;
    const sha = results[`c${i}-r${k}`]?.checkpointSha256;
    if (sha) {
      const steps = plan.evalSteps - plan.rungs[k]!;
      const spec = continuationSpec(rungSpec(plan, results, i, k), `c${i}-r${k}`, sha, { steps });
      jobs.push({ id: `found-s${own}`, spec, parent: `c${i}-r${k}`, keepCheckpoint: false });
    }
    const found = plan.configs[i]!;
    for (const seed of fresh)
      jobs.push({
        id: `found-s${seed}`,
        spec: { ...found, seed, train: { ...found.train, steps: plan.evalSteps } },
        parent: null,
        keepCheckpoint: false,
      });
    for (const seed of plan.seeds)
      jobs.push({
        id: `default-s${seed}`,
        spec: nanogptSpec(plan, seed),
        parent: null,
        keepCheckpoint: false,
      });
  }
  return jobs.filter((j) => !results[j.id]);
}

/** Mean and sample standard deviation. */
export function meanSd(xs: number[]): { mean: number; sd: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}
