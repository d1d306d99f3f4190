// A Weights & Biases sweep configuration as a campaign brief (docs/strategies.md): the format
// researchers already write (https://docs.wandb.ai/guides/sweeps/define-sweep-configuration),
// mapped key by key onto the brief's search space and strategy. What cannot be mapped exactly is
// refused with the key named, so a sweep never silently means something else here.
import { z } from 'zod';
import { CampaignBrief, Range, SEARCHABLE, type Searchable } from './search-space.ts';

/** One problem with a sweep, at its key ("parameters.learning_rate.distribution"). */
export interface SweepIssue {
  path: string;
  message: string;
}

/** The names a sweep may give each hyperparameter: the brief's own, and nanoGPT's. */
const ALIASES: Record<string, Searchable> = {
  learning_rate: 'lr',
  min_lr_ratio: 'minLrRatio',
  warmup_iters: 'warmupSteps',
  warmup_steps: 'warmupSteps',
  batch_size: 'batchSize',
  weight_decay: 'weightDecay',
  n_layer: 'nLayer',
  n_head: 'nHead',
  n_embd: 'nEmbd',
  block_size: 'blockSize',
  ...Object.fromEntries(Object.keys(SEARCHABLE).map((k) => [k, k as Searchable])),
};
const INTEGER = new Set<Searchable>([
  'warmupSteps',
  'batchSize',
  'nLayer',
  'nHead',
  'nEmbd',
  'blockSize',
]);
const SWEEP_KEYS = ['method', 'metric', 'parameters', 'early_terminate', 'run_cap'] as const;
/** The brief's own fields a sweep file carries beside its W&B keys. */
const BRIEF_KEYS = ['name', 'brief', 'template', 'datasetId', 'experiments', 'steps', 'replicas'];
const IGNORED = new Set(['project', 'entity']); // where W&B would log runs: no effect on the search

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a brief is written as a W&B sweep: it has a sweep's keys and no search space of its own. */
export function isSweep(input: unknown): input is Record<string, unknown> {
  return isObject(input) && SWEEP_KEYS.some((k) => k in input) && !('searchSpace' in input);
}

/** One `parameters` entry as a search-space range, or the reason it cannot be one. */
function rangeOf(key: Searchable, p: Record<string, unknown>, at: string, out: SweepIssue[]) {
  const issue = (path: string, message: string) => void out.push({ path: `${at}${path}`, message });
  const min = p.min as number;
  const max = p.max as number;
  // W&B infers the distribution when it is left out: values → categorical, integer bounds → int_uniform.
  const dist =
    p.distribution ??
    ('value' in p
      ? 'constant'
      : 'values' in p
        ? 'categorical'
        : Number.isInteger(min) && Number.isInteger(max)
          ? 'int_uniform'
          : 'uniform');
  if ('q' in p && (p.q !== 1 || !String(dist).startsWith('q_')))
    return issue('.q', 'Tabgrid quantises only integer hyperparameters, to q: 1 (q_uniform).');
  let range: unknown;
  switch (dist) {
    case 'constant':
      range = { kind: 'fixed', value: p.value };
      break;
    case 'categorical':
      range = { kind: 'choice', values: p.values };
      break;
    case 'uniform':
      range = { kind: 'uniform', min, max };
      break;
    case 'log_uniform_values':
      range = { kind: 'log-uniform', min, max };
      break;
    case 'log_uniform': // bounds are natural logarithms of the values
      range = { kind: 'log-uniform', min: Math.exp(min), max: Math.exp(max) };
      break;
    case 'int_uniform':
    case 'q_uniform':
    case 'q_log_uniform_values':
      // The sampler rounds integer hyperparameters: round(U(min − ½, max + ½)) is int_uniform
      // exactly, and round(U(min, max)) is q_uniform with q = 1.
      if (!INTEGER.has(key))
        return issue(
          '.distribution',
          `${dist} needs an integer hyperparameter; ${key} is not one.`,
        );
      range =
        dist === 'int_uniform'
          ? { kind: 'uniform', min: min - 0.5, max: max + 0.5 }
          : { kind: dist === 'q_uniform' ? 'uniform' : 'log-uniform', min, max };
      break;
    default:
      return issue(
        '.distribution',
        `Tabgrid cannot map the distribution ${JSON.stringify(dist)}: use constant, categorical, uniform, int_uniform, q_uniform or q_log_uniform_values (q: 1), log_uniform or log_uniform_values.`,
      );
  }
  for (const k of Object.keys(p))
    if (!['value', 'values', 'distribution', 'min', 'max', 'q'].includes(k))
      return issue(`.${k}`, `Tabgrid cannot map "${k}": give value, values, or min and max.`);
  const parsed = Range.safeParse(range);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    const field = { kind: '', value: '.value', values: '.values', min: '.min', max: '.max' };
    return issue(field[String(i.path[0] ?? 'kind') as keyof typeof field] ?? '', i.message);
  }
  return parsed.data;
}

/**
 * The brief a sweep describes, with every key it cannot map. `method: random` is the seeded
 * sampler; `early_terminate: hyperband` is ASHA (min_iter → the first rung's steps, max_iter → the
 * top rung's, eta → η); `metric` must be val_bpb, minimised. Grid and Bayesian search are refused.
 */
export function sweepToBrief(sweep: Record<string, unknown>): {
  brief: Record<string, unknown>;
  issues: SweepIssue[];
} {
  const issues: SweepIssue[] = [];
  const issue = (path: string, message: string) => void issues.push({ path, message });
  const brief: Record<string, unknown> = { template: 'gpt-char' };
  for (const [k, v] of Object.entries(sweep)) {
    if (BRIEF_KEYS.includes(k) || k === 'seed') brief[k] = v;
    else if (k === 'description') brief.brief ??= v;
    else if (k === 'run_cap') brief.experiments ??= v;
    else if (k === 'program' || k === 'command')
      issue(k, `Tabgrid trains its own gpt-char template: it cannot run a ${k}.`);
    else if (!IGNORED.has(k) && !(SWEEP_KEYS as readonly string[]).includes(k))
      issue(k, `Tabgrid cannot map the sweep key "${k}".`);
  }
  if ('description' in sweep && 'brief' in sweep)
    issue('description', 'Give the question once: description or brief.');
  if ('run_cap' in sweep && 'experiments' in sweep)
    issue('run_cap', 'Give the number of configurations once: run_cap or experiments.');

  const method = sweep.method;
  if (method === 'grid' || method === 'bayes')
    issue(
      'method',
      method === 'grid'
        ? 'Tabgrid samples configurations at random; a grid cannot be mapped: use method: random.'
        : 'Tabgrid has no Bayesian proposer; use method: random (with early_terminate for ASHA).',
    );
  else if (method !== 'random')
    issue('method', 'method must be random (grid and bayes cannot be mapped).');

  if (sweep.metric !== undefined) {
    const m = isObject(sweep.metric) ? sweep.metric : {};
    if (m.name !== 'val_bpb')
      issue('metric.name', 'Tabgrid measures val_bpb: metric.name must be val_bpb.');
    if (m.goal !== undefined && m.goal !== 'minimize')
      issue('metric.goal', 'val_bpb is minimised: metric.goal must be minimize.');
    for (const k of Object.keys(m))
      if (k !== 'name' && k !== 'goal') issue(`metric.${k}`, `Tabgrid cannot map metric.${k}.`);
  }

  const searchSpace: Record<string, unknown> = {};
  if (!isObject(sweep.parameters) || !Object.keys(sweep.parameters).length)
    issue('parameters', 'parameters must name at least one hyperparameter.');
  else
    for (const [name, p] of Object.entries(sweep.parameters)) {
      const key = Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined; // not `constructor`
      const at = `parameters.${name}`;
      if (!key)
        issue(
          at,
          `Tabgrid cannot search "${name}": it searches ${Object.keys(SEARCHABLE).join(', ')}.`,
        );
      else if (key in searchSpace) issue(at, `${key} is given twice.`);
      else if (!isObject(p)) issue(at, 'Give value, values, or min and max.');
      else {
        const range = rangeOf(key, p, at, issues);
        if (range) searchSpace[key] = range;
      }
    }
  brief.searchSpace = searchSpace;
  brief.strategy = { kind: 'random' };
  if (sweep.early_terminate !== undefined) hyperband(sweep.early_terminate, brief, issue);
  return { brief, issues };
}

/** `early_terminate: {type: hyperband, …}` as ASHA's rungs. */
function hyperband(
  et: unknown,
  brief: Record<string, unknown>,
  issue: (path: string, message: string) => void,
): void {
  const e = isObject(et) ? et : {};
  if (e.type !== 'hyperband')
    return issue('early_terminate.type', 'Only hyperband can be mapped (to ASHA).');
  for (const k of Object.keys(e))
    if (!['type', 'min_iter', 'max_iter', 'eta', 's', 'strict'].includes(k))
      issue(`early_terminate.${k}`, `Tabgrid cannot map early_terminate.${k}.`);
  if (e.strict === true)
    issue(
      'early_terminate.strict',
      'Strict hyperband cannot be mapped: ASHA promotes the best 1/η.',
    );
  const eta = (e.eta ?? 3) as number; // W&B's default η
  const s = e.s as number | undefined;
  // W&B's brackets: min_iter · η^k up to max_iter; given one of them and s, the other follows.
  const min = (e.min_iter ??
    (typeof e.max_iter === 'number' && s !== undefined ? e.max_iter / eta ** s : undefined)) as
    number | undefined;
  const max = (e.max_iter ??
    (typeof min === 'number' && s !== undefined ? min * eta ** s : undefined)) as
    number | undefined;
  if (min === undefined)
    return issue('early_terminate.min_iter', "Give min_iter: the first rung's steps.");
  if (max === undefined)
    return issue('early_terminate.max_iter', "Give max_iter (or s): the top rung's steps.");
  if ('steps' in brief && brief.steps !== min)
    issue('steps', "With hyperband, the first rung's steps are min_iter: leave steps out.");
  brief.steps = min;
  brief.strategy = { kind: 'asha', eta, maxSteps: max };
}

/**
 * The brief's schema as every entry point applies it (the edge, the CLI, the web form): a brief, or
 * a W&B sweep mapped to one first, each unmappable key an issue at its own path.
 */
export const BriefOrSweep = z.preprocess((input, ctx) => {
  if (!isSweep(input)) return input;
  const { brief, issues } = sweepToBrief(input);
  for (const i of issues)
    ctx.addIssue({ code: 'custom', path: i.path.split('.'), message: i.message });
  return issues.length ? z.NEVER : brief;
}, CampaignBrief);
