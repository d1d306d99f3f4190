// The campaign form's state: a draft of a brief, checked in the browser with the same zod schema
// and admission policy the edge runs (shared/search-space.ts), then submitted with the researcher's
// token. Every problem, local or from the edge's `issues`, is keyed by the field it belongs to.
import type { Campaign, DatasetSummary } from '../../../shared/protocol.ts';
import {
  admissionIssues,
  CampaignBrief,
  sampleExperiments,
  SEARCHABLE,
  type Range,
  type Searchable,
} from '../../../shared/search-space.ts';
import { parameterCount, trainingFlops } from '../../../shared/spec.ts';
import { isSweep, sweepToBrief } from '../../../shared/wandb-sweep.ts';
import { EdgeError, getJson, postJson } from './api.ts';
import { fmtCount, fmtDuration, fmtSi } from './format.ts';

export type Kind = 'off' | Range['kind'];

export interface RangeDraft {
  kind: Kind;
  value: string; // fixed
  values: string; // choice: "1, 2, 4"
  min: string;
  max: string;
}

/** The field an issue path belongs to: "searchSpace.lr.min" → "searchSpace.lr", "steps" → "steps". */
export function fieldOf(path: string | (string | number | symbol)[]): string {
  const parts = (typeof path === 'string' ? path.split('.') : path.map(String)).filter(Boolean);
  if ((parts[0] === 'searchSpace' || parts[0] === 'strategy') && parts[1])
    return parts[0] === 'strategy' && parts[1] === 'kind' ? 'strategy' : `${parts[0]}.${parts[1]}`;
  return parts[0] ?? 'form';
}

/**
 * Effective training speed of a 2-core laptop on WASM, from docs/backends.md's anchor: the nanoGPT CPU
 * recipe, 7.6 TFLOP, in ≈ 9.5 min ⇒ ≈ 13 GFLOP/s. Only for the form's time estimate.
 */
const LAPTOP_FLOPS_PER_SEC = 7.6e12 / (9.5 * 60);
const TOKEN_KEY = 'tabgrid.researcher-token';

function blank(kind: Kind = 'off'): RangeDraft {
  return { kind, value: '', values: '', min: '', max: '' };
}

export class CampaignForm {
  token = $state(sessionStorage.getItem(TOKEN_KEY) ?? '');
  rememberToken = $state(sessionStorage.getItem(TOKEN_KEY) !== null);
  name = $state('');
  brief = $state('');
  datasetId = $state('');
  experiments = $state<number | null>(8);
  steps = $state<number | null>(300);
  replicas = $state<number | null>(2);
  segments = $state<number | null>(1); // a lineage: each configuration continued this many times in all
  strategy = $state<'random' | 'asha' | 'pbt'>('random'); // docs/strategies.md
  generations = $state<number | null>(4); // PBT
  eta = $state<number | null>(3);
  maxSteps = $state<number | null>(2700);
  seed = $state<number | null>(1 + Math.floor(Math.random() * 1_000_000));
  space = $state<Record<Searchable, RangeDraft>>(
    Object.fromEntries(
      (Object.keys(SEARCHABLE) as Searchable[]).map((k) => [k, blank()]),
    ) as Record<Searchable, RangeDraft>,
  );
  sweep = $state(''); // a pasted W&B sweep configuration, YAML or JSON
  datasets = $state.raw<DatasetSummary[]>([]);
  errors = $state.raw<Record<string, string>>({});
  submitting = $state(false);
  /** Set after the first submit: from then on, problems update as the researcher types. */
  touched = $state(false);

  constructor() {
    this.space.lr = { ...blank('log-uniform'), min: '5e-4', max: '5e-3' };
    this.space.nLayer = { ...blank('choice'), values: '1, 2' };
  }

  async loadDatasets(): Promise<void> {
    const { datasets } = await getJson<{ datasets: DatasetSummary[] }>('/api/datasets');
    this.datasets = datasets;
    if (!this.datasetId && datasets[0]) this.datasetId = datasets[0].id;
  }

  /**
   * Fills the form from a W&B sweep (shared/wandb-sweep.ts): its ranges, ASHA for hyperband, its
   * counts. A key it cannot map is shown at the sweep, and the form is left as it was.
   */
  async importSweep(): Promise<void> {
    const { parse } = await import('yaml'); // JSON is YAML; loaded only when a sweep is pasted
    let input: unknown;
    try {
      input = parse(this.sweep);
    } catch (err) {
      this.errors = { ...this.errors, sweep: `Not valid YAML or JSON: ${(err as Error).message}` };
      return;
    }
    const { brief, issues } = isSweep(input)
      ? sweepToBrief(input)
      : {
          brief: {},
          issues: [{ path: 'method', message: 'A sweep needs method and parameters.' }],
        };
    const { sweep: _, ...rest } = this.errors;
    if (issues[0]) {
      this.errors = { ...rest, sweep: `${issues[0].path}: ${issues[0].message}` };
      return;
    }
    this.errors = rest;
    const b = brief as Record<string, number | string | undefined>;
    if (typeof b.name === 'string') this.name = b.name;
    if (typeof b.brief === 'string') this.brief = b.brief;
    if (typeof b.datasetId === 'string') this.datasetId = b.datasetId;
    for (const k of ['experiments', 'steps', 'replicas', 'seed'] as const)
      if (typeof b[k] === 'number') this[k] = b[k];
    const strategy = brief.strategy as
      { kind: 'random' } | { kind: 'asha'; eta: number; maxSteps: number };
    this.strategy = strategy.kind;
    if (strategy.kind === 'asha') [this.eta, this.maxSteps] = [strategy.eta, strategy.maxSteps];
    const space = brief.searchSpace as Partial<Record<Searchable, Range>>;
    for (const key of Object.keys(SEARCHABLE) as Searchable[]) {
      const r = space[key];
      this.space[key] = !r
        ? blank()
        : r.kind === 'fixed'
          ? { ...blank('fixed'), value: String(r.value) }
          : r.kind === 'choice'
            ? { ...blank('choice'), values: r.values.join(', ') }
            : { ...blank(r.kind), min: String(r.min), max: String(r.max) };
    }
    this.revalidate();
  }

  /** The draft as a brief object (not yet validated), and the problems found while reading it. */
  #draft(): { draft: Record<string, unknown>; problems: Record<string, string> } {
    const problems: Record<string, string> = {};
    const num = (field: string, text: string): number => {
      const x = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(x)) problems[field] ??= 'Enter a number.';
      return x;
    };
    const searchSpace: Record<string, Range> = {};
    for (const [key, r] of Object.entries(this.space) as [Searchable, RangeDraft][]) {
      const field = `searchSpace.${key}`;
      if (r.kind === 'off') continue;
      if (r.kind === 'fixed') searchSpace[key] = { kind: 'fixed', value: num(field, r.value) };
      else if (r.kind === 'choice') {
        const values = r.values
          .split(/[\s,;]+/)
          .filter(Boolean)
          .map((v) => num(field, v));
        if (!values.length) problems[field] = 'List at least one value, separated by commas.';
        searchSpace[key] = { kind: 'choice', values };
      } else searchSpace[key] = { kind: r.kind, min: num(field, r.min), max: num(field, r.max) };
    }
    const draft = {
      name: this.name,
      brief: this.brief,
      template: 'gpt-char',
      datasetId: this.datasetId,
      searchSpace,
      experiments: this.experiments ?? NaN,
      steps: this.steps ?? NaN,
      replicas: this.replicas ?? NaN,
      segments: this.segments ?? NaN,
      seed: this.seed ?? NaN,
      strategy:
        this.strategy === 'asha'
          ? { kind: 'asha', eta: this.eta ?? NaN, maxSteps: this.maxSteps ?? NaN }
          : this.strategy === 'pbt'
            ? { kind: 'pbt', generations: this.generations ?? NaN }
            : { kind: 'random' },
    };
    return { draft, problems };
  }

  /** Validates like the edge: schema first, then the admission policy on the sampled experiments. */
  check(): { brief: CampaignBrief | null; errors: Record<string, string> } {
    const { draft, problems } = this.#draft();
    const errors = { ...problems };
    if (!this.token.trim()) errors.token = 'Paste the token from `npm run researcher -- add NAME`.';
    const parsed = CampaignBrief.safeParse(draft);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors[fieldOf(issue.path)] ??= issue.message;
      return { brief: null, errors };
    }
    const dataset = this.datasets.find((d) => d.id === parsed.data.datasetId);
    if (dataset) {
      const specs = sampleExperiments(parsed.data, {
        ref: { id: dataset.id, sha256: dataset.manifestSha256 },
        vocabSize: dataset.vocabSize,
      });
      for (const issue of admissionIssues(parsed.data, specs))
        errors[fieldOf(issue.path)] ??= issue.message;
    }
    return { brief: Object.keys(errors).length ? null : parsed.data, errors };
  }

  /** What the brief would run: parameter range, compute per experiment and a laptop time estimate. */
  get preview(): string | null {
    const { brief } = this.check();
    const dataset = this.datasets.find((d) => d.id === brief?.datasetId);
    if (!brief || !dataset) return null;
    const specs = sampleExperiments(brief, {
      ref: { id: dataset.id, sha256: dataset.manifestSha256 },
      vocabSize: dataset.vocabSize,
    });
    const params = specs.map((s) => parameterCount(s.model));
    const flops = specs.map(trainingFlops);
    const most = Math.max(...flops);
    const [lo, hi] = [fmtCount(Math.min(...params)), fmtCount(Math.max(...params))];
    const lineage = brief.segments > 1 ? ` × ${brief.segments} segments` : '';
    return `${specs.length} experiments${lineage} × ${brief.replicas} replicas · ${lo === hi ? lo : `${lo}–${hi}`} parameters · at most ${fmtSi(most, 'FLOP')} each, about ${fmtDuration(most / LAPTOP_FLOPS_PER_SEC)} on a 2-core laptop${lineage ? ' per segment' : ''}`;
  }

  revalidate(): void {
    if (this.touched) this.errors = this.check().errors;
  }

  /** Submits the brief; returns the new campaign, or null with `errors` filled in. */
  async submit(): Promise<Campaign | null> {
    this.touched = true;
    const { brief, errors } = this.check();
    this.errors = errors;
    if (!brief) return null;
    if (this.rememberToken) sessionStorage.setItem(TOKEN_KEY, this.token.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
    this.submitting = true;
    try {
      const { campaign } = await postJson<{ campaign: Campaign }>('/api/campaigns', brief, {
        authorization: `Bearer ${this.token.trim()}`,
      });
      return campaign;
    } catch (err) {
      const e = err as Error;
      const next: Record<string, string> = {};
      if (e instanceof EdgeError) {
        if (e.code === 'missing_token' || e.code === 'bad_token') next.token = e.message;
        for (const issue of e.issues) next[fieldOf(issue.path)] ??= issue.message;
      }
      // The sentence on top only when no field says it already.
      if (!Object.values(next).includes(e.message)) next.form = e.message;
      this.errors = next;
      return null;
    } finally {
      this.submitting = false;
    }
  }
}
