// `npm run bench:search -- --json [--curves FILE] [--first-rung K] [--seeds K] [--pbt-seeds K]`: is
// an adaptive search worth it? Random search and ASHA (docs/strategies.md) run against the same
// configurations and the same simulated fleet, on learning curves recorded from the project's own
// trainer (`npm run record:curves` → scripts/data/asha-curves-broad.json: 81 configurations of a
// broad space, val_bpb at 30, 90, 270 and 810 steps). The fleet: volunteers whose speeds spread 10×
// (log-uniform), 10 % of leases abandoned part-way (the work lost, the experiment queued again).
// ASHA decides with the edge's own rule (shared/asha.ts). Per strategy: the FLOPs and wall time to
// reach random search's best val_bpb, and the best val_bpb at equal FLOPs; medians over `--seeds`
// fleets. PBT moves weights, so it is trained for real instead (scripts/lib/search-pbt.ts) against
// random search on the same draws. Last line (--json):
// {"strategies":{"random":{…},"asha":{…},"pbt":{…}},"ashaFlopsRatio":…,"pbtGainBpb":…, …}.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ashaPromotions, type RungResult } from '../shared/asha.ts';
import { Rng } from '../shared/rng.ts';
import { median } from '../shared/verify.ts';
import type { CurveTable } from './data/curve-briefs.ts';
import { pbtAgainstRandom } from './lib/search-pbt.ts';
import { ROOT } from './lib/wrangler.ts';

const { values: opt } = parseArgs({
  options: {
    volunteers: { type: 'string', default: '12' },
    seeds: { type: 'string', default: '9' },
    abandon: { type: 'string', default: '0.1' },
    // Start ASHA at a later recorded rung: 1 gives rungs of 90 and 270 steps (η = 3)
    'first-rung': { type: 'string', default: '0' },
    // Each fleet's campaign draws this many of the recorded configurations (default: all of them)
    campaign: { type: 'string' },
    curves: { type: 'string', default: 'asha-curves-broad.json' }, // in scripts/data/
    // PBT, trained for real (scripts/lib/search-pbt.ts): ~1.5 min of one core per population
    'pbt-population': { type: 'string', default: '8' },
    'pbt-generations': { type: 'string', default: '6' },
    'pbt-steps': { type: 'string', default: '40' },
    'pbt-seeds': { type: 'string', default: '5' },
    'skip-pbt': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
/** The recorded table, a diverged run's missing val_bpb read as +∞ (never promoted, never best). */
interface Table extends Omit<CurveTable, 'configs'> {
  configs: { lr: number; valBpb: number[]; flops: number[] }[];
}
const recorded = JSON.parse(
  readFileSync(join(ROOT, 'scripts', 'data', opt.curves!), 'utf8'),
) as CurveTable;
// --first-rung k: the first k + 1 recorded rungs become ASHA's first (their FLOPs added up).
const firstRung = Number(opt['first-rung']);
const table: Table = {
  ...recorded,
  rungs: recorded.rungs.slice(firstRung),
  configs: recorded.configs.map((c) => ({
    ...c,
    valBpb: c.valBpb.slice(firstRung).map((v) => v ?? Number.POSITIVE_INFINITY),
    flops: [
      c.flops.slice(0, firstRung + 1).reduce((a, b) => a + b, 0),
      ...c.flops.slice(firstRung + 1),
    ],
  })),
};
const eta = (table.brief.strategy as { eta: number }).eta;
const top = table.rungs.length - 1;

/** One experiment to train: a configuration to rung `rung` (from the rung below, or from scratch). */
interface Job {
  config: number;
  rung: number;
  flops: number; // the experiment's own FLOPs
  valBpb: number; // what the recorded curve says it gives
}

interface Outcome {
  flops: number; // every FLOP the fleet spent, abandoned work included
  wallS: number; // simulated seconds to the end
  /** Each completed top-rung result: when, after how many FLOPs, with which val_bpb. */
  finals: { t: number; flops: number; valBpb: number }[];
}

/**
 * The fleet: `volunteers` with speeds log-uniform over [1, 10] × a base (so the slowest takes 10×
 * the fastest), each taking the next job when free; a lease is abandoned with probability `abandon`
 * after a uniform share of its time, and its job queued again. `next(done)` gives the jobs a
 * completion makes available (none for random search; ASHA's promotions).
 */
function simulate(seed: number, initial: Job[], next: (done: Job) => Job[]): Outcome {
  const rng = Rng.derive(seed, 'fleet');
  const base = 1e9; // FLOP/s of the slowest volunteer: scales wall time only
  const speeds = Array.from({ length: Number(opt.volunteers) }, () => base * 10 ** rng.next());
  const queue = [...initial];
  const busy: { until: number; volunteer: number; job: Job; lost: boolean; flops: number }[] = [];
  const free = speeds.map((_, i) => i);
  let t = 0;
  let flops = 0;
  const finals: Outcome['finals'] = [];
  for (;;) {
    while (free.length && queue.length) {
      const v = free.shift()!;
      const job = queue.shift()!;
      const full = job.flops / speeds[v]!;
      const lost = rng.next() < Number(opt.abandon);
      const share = lost ? rng.next() : 1;
      busy.push({ until: t + full * share, volunteer: v, job, lost, flops: job.flops * share });
    }
    if (!busy.length) break;
    busy.sort((a, b) => a.until - b.until);
    const e = busy.shift()!;
    t = e.until;
    flops += e.flops;
    free.push(e.volunteer);
    if (e.lost) {
      queue.unshift(e.job); // its lease expires: the experiment is handed out again
      continue;
    }
    if (e.job.rung === top) finals.push({ t, flops, valBpb: e.job.valBpb });
    queue.push(...next(e.job)); // as on the edge: a new experiment queues after the ones waiting
  }
  return { flops, wallS: t, finals };
}

const fullFlops = (c: Table['configs'][number]) => c.flops.reduce((a, b) => a + b, 0);

/** The configurations in a seeded random order: which one a campaign samples first is chance. */
function order(seed: number): number[] {
  const rng = Rng.derive(seed, 'order');
  const out = table.configs.map((_, i) => i);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.slice(0, opt.campaign ? Number(opt.campaign) : undefined);
}

function randomSearch(seed: number): Outcome {
  const jobs = order(seed)
    .map((i) => table.configs[i]!)
    .map((c, k) => ({
      config: k,
      rung: top,
      flops: fullFlops(c),
      valBpb: c.valBpb[top]!,
    }));
  return simulate(seed, jobs, () => []);
}

function asha(seed: number): Outcome {
  const results: RungResult[] = [];
  const promoted = new Set<string>();
  const job = (config: number, rung: number): Job => ({
    config,
    rung,
    flops: table.configs[config]!.flops[rung]!,
    valBpb: table.configs[config]!.valBpb[rung]!,
  });
  return simulate(
    seed,
    order(seed).map((i) => job(i, 0)),
    (done) => {
      results.push({
        config: String(done.config),
        rung: done.rung,
        experimentId: `${done.config}@${done.rung}`,
        valBpb: done.valBpb,
      });
      return ashaPromotions(eta, table.rungs.length, results, promoted).map((p) => {
        promoted.add(p.parent);
        return job(Number(p.config), p.fromRung + 1);
      });
    },
  );
}

/** FLOPs and time when a strategy first had a final result at least as good as random's best. */
function reach(o: Outcome, randomBest: number) {
  const hit = o.finals.find((f) => f.valBpb <= randomBest + 1e-12);
  return hit ? { flops: hit.flops, wallS: hit.t } : null;
}
/** The best final val_bpb a strategy had after `flops` FLOPs. */
function bestWithin(o: Outcome, flops: number): number | null {
  const within = o.finals.filter((f) => f.flops <= flops + 1e-6).map((f) => f.valBpb);
  return within.length ? Math.min(...within) : null;
}

const seeds = Array.from({ length: Number(opt.seeds) }, (_, i) => i + 1);
const runs = seeds.map((s) => {
  const drawn = order(s).map((i) => table.configs[i]!);
  return {
    random: randomSearch(s),
    asha: asha(s),
    // Random search's best of this campaign's configurations, and what it spends to know it: all.
    randomBest: Math.min(...drawn.map((c) => c.valBpb[top]!)),
    randomTotal: drawn.reduce((a, c) => a + fullFlops(c), 0),
  };
});
const summary = (pick: (r: (typeof runs)[number]) => Outcome) => {
  const reached = runs.flatMap((r) => {
    const hit = reach(pick(r), r.randomBest);
    return hit ? [{ ...hit, ratio: hit.flops / r.randomTotal }] : [];
  });
  const outs = runs.map(pick);
  return {
    flops: median(outs.map((o) => o.flops)),
    wallS: median(outs.map((o) => o.wallS)),
    best: median(outs.map((o) => Math.min(...o.finals.map((f) => f.valBpb)))),
    worst: Math.max(...outs.map((o) => Math.min(...o.finals.map((f) => f.valBpb)))),
    reachedRandomBest: reached.length, // of `seeds` fleets
    // Medians over the fleets that reached it
    flopsToRandomBest: reached.length ? median(reached.map((r) => r.flops)) : null,
    wallToRandomBestS: reached.length ? median(reached.map((r) => r.wallS)) : null,
    flopsRatioToRandomBest: reached.length ? median(reached.map((r) => r.ratio)) : null,
  };
};
const random = summary((r) => r.random);
const ashaSummary = summary((r) => r.asha);
// At equal FLOPs: what random search has after as many FLOPs as ASHA spent in all.
const randomAtAshaFlops = median(
  runs.map((r) => bestWithin(r.random, r.asha.flops) ?? Number.POSITIVE_INFINITY),
);
/** Spearman's ρ between each rung's val_bpb and the top rung's: how well a rung predicts the end. */
function rankCorrelation(k: number): number {
  const rank = (xs: number[]) => {
    const r: number[] = [];
    xs.map((x, i) => [x, i] as const)
      .sort((a, b) => a[0] - b[0])
      .forEach(([, i], at) => (r[i] = at));
    return r;
  };
  const a = rank(table.configs.map((c) => c.valBpb[k]!));
  const b = rank(table.configs.map((c) => c.valBpb[top]!));
  const n = a.length;
  const d2 = a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0);
  return Number((1 - (6 * d2) / (n * (n * n - 1))).toFixed(3));
}

// PBT over `--pbt-seeds` populations (each its own draws, and random search on the same draws).
const pbtRuns = [];
for (let k = 0; k < (opt['skip-pbt'] ? 0 : Number(opt['pbt-seeds'])); k++)
  pbtRuns.push(
    await pbtAgainstRandom({
      population: Number(opt['pbt-population']),
      generations: Number(opt['pbt-generations']),
      segmentSteps: Number(opt['pbt-steps']),
      seed: k + 1,
    }),
  );
const reachedPbt = pbtRuns.flatMap((r) =>
  r.flopsToRandomBest === null ? [] : [r.flopsToRandomBest],
);
const pbt = pbtRuns.length
  ? {
      flops: median(pbtRuns.map((r) => r.flops)),
      best: median(pbtRuns.map((r) => r.best)),
      randomBestAtEqualFlops: median(pbtRuns.map((r) => r.randomBestAtEqualFlops)),
      pbtGainBpb: median(pbtRuns.map((r) => r.pbtGainBpb)),
      beatRandom: pbtRuns.filter((r) => r.pbtGainBpb > 0).length, // of `populations`
      reachedRandomBest: reachedPbt.length,
      flopsToRandomBest: reachedPbt.length ? median(reachedPbt) : null,
      populations: pbtRuns,
    }
  : null;
const report = {
  strategies: {
    random: { ...random, totalFlops: median(runs.map((r) => r.randomTotal)) },
    asha: { ...ashaSummary, randomBestAtEqualFlops: randomAtAshaFlops },
    // Its own space and random search (same draws, same FLOPs): real training, not the curves.
    pbt,
  },
  // ASHA's FLOPs to random search's best over what random search spends to know it has it (all of it).
  ashaFlopsRatio: ashaSummary.flopsRatioToRandomBest,
  // PBT's best val_bpb below random search's at equal FLOPs (positive: PBT is better).
  pbtGainBpb: pbt?.pbtGainBpb ?? null,
  // And over all ASHA spent, found or not: the price of the search itself.
  ashaTotalFlopsRatio: median(runs.map((r) => r.asha.flops / r.randomTotal)),
  curves: `scripts/data/${opt.curves}`,
  configurations: opt.campaign ? Number(opt.campaign) : table.configs.length, // per campaign
  recorded: table.configs.length,
  rungs: table.rungs,
  eta,
  rankCorrelation: table.rungs.map((_, k) => rankCorrelation(k)),
  volunteers: Number(opt.volunteers),
  abandoned: Number(opt.abandon),
  seeds: seeds.length,
  randomBestValBpb: median(runs.map((r) => r.randomBest)),
};
if (!opt.json) console.log(JSON.stringify(report, null, 2));
else console.log(JSON.stringify(report));
