// The edge a load test drives: fresh local D1 state seeded with one campaign of tiny synthetic
// experiments (one per D1 shard with `shards` > 1: lib/bench-state.ts), the Worker bundled once and
// served frozen by `wrangler dev --no-bundle` on a free port, stopped on exit or Ctrl-C, and
// afterwards the D1 checks a load test ends with (double assignments, lost results) over every
// shard. Shared by `npm run bench:edge` and `npm run bench:soak`.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { PRELOAD_PREFIX } from './preload.ts';
import { sha256 } from '../../shared/crypto.ts';
import { seedBenchState, type BenchState, type SeededState } from './bench-state.ts';
import { bundleWorker, queryLocal, sqlLiteral, startDev, waitForHealth } from './local-edge.ts';
import { HOME_SHARD, WRANGLER_TOML } from './d1-shards.ts';
import type { Fleet } from './fleet.ts';
import { ROOT, type D1Shard } from './wrangler.ts';

// The seeded state lives in lib/bench-state.ts; the benchmarks import it from here with the rest.
export {
  benchCampaignIds,
  benchDatasetSha256,
  benchSpec,
  d1File,
  seedBenchState,
  type BenchState,
  type SeededState,
} from './bench-state.ts';

export const log = (line: string) => process.stderr.write(line + '\n');

/** Seconds since `t` (a performance.now()), to a tenth. */
export const secondsSince = (t: number) => ((performance.now() - t) / 1000).toFixed(1);

/** The p-th percentile of an ascending array (0 when empty). */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

/** "p50 … ms  p99 … ms" of latencies in any order. */
export function latency(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `p50 ${percentile(s, 50).toFixed(1)} ms  p99 ${percentile(s, 99).toFixed(1)} ms`;
}

export function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer (got ${v})`);
    process.exit(2);
  }
  return n;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function freePort(preferred: number): Promise<number> {
  for (let p = preferred; p < preferred + 50; p++) if (await portIsFree(p)) return p;
  throw new Error(`no free port in ${preferred}–${preferred + 49}`);
}

// ---------------------------------------------------------------------------------------------
// The wrangler dev child: one per process, stopped on exit and on SIGINT / SIGTERM

let edge: ChildProcess | null = null;
let interrupted = false;

/** True once SIGINT or SIGTERM arrived: loops stop starting work. */
export const isInterrupted = () => interrupted;

export function stopEdge(): Promise<void> {
  const child = edge;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Installs the last-resort cleanup: the edge never outlives the benchmark. */
function stopEdgeOnExit(): void {
  process.on('exit', () => {
    if (edge && edge.exitCode === null && edge.signalCode === null) edge.kill('SIGTERM'); // last resort
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      log(`\n${sig}: stopping the edge…`);
      void stopEdge().then(() => process.exit(130));
    });
  }
}

/**
 * Runs a benchmark's `main`: the edge never outlives it (stopped on exit, on SIGINT / SIGTERM and
 * when `main` throws, which also exits 1 with the stack on stderr).
 */
export async function runBench(name: string, main: () => Promise<void>): Promise<void> {
  stopEdgeOnExit();
  try {
    await main();
  } catch (err) {
    log(`${name} failed: ${(err as Error).stack ?? err}`);
    await stopEdge();
    process.exit(1);
  }
}

export interface EdgeOptions {
  persist: string;
  port: number;
  entry?: string; // serve this Worker entry point instead of wrangler.toml's main
  devTracing: boolean; // keep wrangler dev's local request tracing on
  config?: string; // the wrangler config served (default wrangler.toml; seedBenchState's with shards)
}

/**
 * Bundles the Worker, starts `wrangler dev` on that frozen bundle and waits until it is healthy;
 * returns the child (its pid roots the edge's process tree). Logs the bundle's hash.
 */
export async function startBenchEdge(o: EdgeOptions): Promise<ChildProcess> {
  // An empty assets directory: the API is all a benchmark needs, and dist/ may not be built.
  const assets = join(o.persist, 'assets');
  mkdirSync(assets, { recursive: true });
  // A frozen bundle: other people's edits to edge/ or shared/ must not reload the edge mid-run.
  const bundle = await bundleWorker(join(o.persist, 'bundle'), assets, o.entry);
  log(
    `  bundled ${relative(ROOT, o.entry ?? join(ROOT, 'edge', 'src', 'index.ts'))}: sha256 ${(await sha256(new Uint8Array(readFileSync(bundle)))).slice(0, 12)}`,
  );
  // wrangler dev records a trace of every request and subrequest into a local SQLite store
  // (X_LOCAL_OBSERVABILITY, on by default, dev only): off here unless devTracing, so the figures
  // are the Worker's and D1's rather than the dev tool's.
  edge = startDev(o.port, o.persist, {
    extra: [bundle, '--no-bundle', '--config', o.config ?? WRANGLER_TOML, '--assets', assets],
    output: 'stderr',
    env: { X_LOCAL_OBSERVABILITY: o.devTracing ? 'true' : 'false' },
  });
  await waitForHealth(`http://127.0.0.1:${o.port}`, edge);
  return edge;
}

/**
 * seedBenchState, then startBenchEdge on its persist directory (and config) and the first free
 * port from `o.port`, logging how long each took; returns the edge's process, its base URL and the
 * seeded state.
 */
export async function seedAndStartEdge(
  s: BenchState,
  o: Omit<EdgeOptions, 'persist' | 'config'>,
): Promise<{ edge: ChildProcess; base: URL } & SeededState> {
  const port = await freePort(o.port);
  let t = performance.now();
  const state = await seedBenchState(s);
  log(`  migrated and seeded in ${secondsSince(t)} s`);
  t = performance.now();
  const child = await startBenchEdge({ ...o, persist: s.persist, port, config: state.config });
  const base = new URL(`http://127.0.0.1:${port}`);
  log(`  edge healthy at ${base.origin} in ${secondsSince(t)} s`);
  return { edge: child, base, ...state };
}

// ---------------------------------------------------------------------------------------------
// After the run (edge stopped): what D1 holds

/**
 * Runs one read query on every shard in `shards` and returns their rows together, shard 0's first.
 * One shard after another: each `wrangler d1 execute` starts a workerd on the same persist dir, and
 * four at once failed here with SQLITE_BUSY_RECOVERY (database is locked).
 */
async function queryShards<T>(persist: string, shards: D1Shard[], sql: string): Promise<T[]> {
  const rows: T[] = [];
  for (const shard of shards) rows.push(...(await queryLocal<T>(persist, sql, shard)));
  return rows;
}

/**
 * `okResults`: resultId → leaseId of every result the client got a 2xx for. Lost: one of those not
 * in D1 under that lease. Double assignments: live leases beyond an experiment's replica slots,
 * plus any volunteer holding two leases of one experiment. Every check runs in each of `shards`
 * (an experiment, its leases and results live whole in one) and adds up.
 */
export async function checkD1(
  persist: string,
  okResults: Map<string, string>,
  now: number,
  shards: D1Shard[] = [HOME_SHARD],
) {
  // Only what the run could have written: bench:edge --preload's finished campaigns are left out.
  const ours = `experiment_id NOT LIKE '${PRELOAD_PREFIX}%'`;
  // More live (done, or open before the deadline) leases than replica slots on one experiment.
  const overfull = await queryShards<{ id: string; needed: number; live: number }>(
    persist,
    shards,
    `SELECT e.id AS id, e.replicas_needed AS needed, count(l.id) AS live
     FROM experiments e JOIN leases l ON l.experiment_id = e.id
     WHERE (l.status = 'done' OR l.deadline > ${now}) AND l.${ours}
     GROUP BY e.id HAVING count(l.id) > e.replicas_needed`,
  );
  // One volunteer holding two leases of one experiment (the UNIQUE constraint should forbid it).
  const twice = await queryShards<{ experimentId: string; volunteerId: string; n: number }>(
    persist,
    shards,
    `SELECT experiment_id AS experimentId, volunteer_id AS volunteerId, count(*) AS n
     FROM leases WHERE ${ours} GROUP BY experiment_id, volunteer_id HAVING count(*) > 1`,
  );
  // More results than replica slots on one experiment.
  const overResults = await queryShards<{ id: string; n: number }>(
    persist,
    shards,
    `SELECT e.id AS id, count(r.id) AS n FROM experiments e JOIN results r ON r.experiment_id = e.id
     WHERE r.${ours} GROUP BY e.id HAVING count(r.id) > e.replicas_needed`,
  );
  const stored = await queryShards<{ id: string; leaseId: string }>(
    persist,
    shards,
    `SELECT id, lease_id AS leaseId FROM results WHERE ${ours}`,
  );
  const summary = await queryShards<{
    leases: number;
    results: number;
    verified: number;
    open: number;
    disputed: number;
  }>(
    persist,
    shards,
    `SELECT (SELECT count(*) FROM leases WHERE ${ours}) AS leases, (SELECT count(*) FROM results WHERE ${ours}) AS results,
            (SELECT count(*) FROM experiments WHERE status = 'verified' AND campaign_id NOT LIKE '${PRELOAD_PREFIX}%') AS verified,
            (SELECT count(*) FROM experiments WHERE status = 'open') AS open,
            (SELECT count(*) FROM experiments WHERE status = 'disputed') AS disputed`,
  );
  const totals = summary.reduce((sum, row) => ({
    leases: sum.leases + row.leases,
    results: sum.results + row.results,
    verified: sum.verified + row.verified,
    open: sum.open + row.open,
    disputed: sum.disputed + row.disputed,
  }));
  const byId = new Map(stored.map((r) => [r.id, r.leaseId]));
  let lost = 0;
  for (const [resultId, leaseId] of okResults) if (byId.get(resultId) !== leaseId) lost++;
  // Stored although the client saw an error (a failure after the write): not lost, but worth knowing.
  const unacknowledged = stored.filter((r) => !okResults.has(r.id)).length;
  return {
    doubleAssignments:
      overfull.reduce((s, r) => s + (r.live - r.needed), 0) +
      twice.reduce((s, r) => s + (r.n - 1), 0),
    overfull,
    twice,
    overResults,
    lost,
    unacknowledged,
    summary: totals,
  };
}

/**
 * The end of a load test: `fleet`'s sockets closed, the edge stopped, then D1 checked against what
 * the fleet saw (checkD1 and countOverfull with `replicas`) in every one of `shards`.
 */
export async function finishRun(
  persist: string,
  fleet: Fleet,
  replicas: number,
  shards: D1Shard[] = [HOME_SHARD],
) {
  fleet.agent.destroy();
  await stopEdge();
  const d1 = await checkD1(persist, fleet.okResults, Date.now(), shards);
  const { crowded, overfull } = await countOverfull(
    persist,
    fleet.leasesPerExperiment,
    replicas,
    shards,
  );
  return { d1, crowded, clientOverfull: overfull };
}

/**
 * Logs the time the fleet waited for rate-limit budget (if any) and finishRun's D1 checks;
 * `clientSaw` goes in the parenthesis after the overfull count, `lostNote` after the lost count.
 */
export function logFindings(
  pacedMs: number,
  d1: Awaited<ReturnType<typeof checkD1>>,
  clientSaw: string,
  lostNote = '',
): void {
  if (pacedMs)
    log(
      `  paced ${(pacedMs / 1000).toFixed(1)} volunteer-seconds waiting for rate-limit budget: use more --keys`,
    );
  log(
    `  D1: ${d1.summary.leases} leases, ${d1.summary.results} results; experiments ${d1.summary.verified} verified, ` +
      `${d1.summary.open} open, ${d1.summary.disputed} disputed`,
  );
  log(
    `  overfull experiments ${d1.overfull.length} (${clientSaw}), volunteer twice on one experiment ${d1.twice.length}, ` +
      `experiments with more results than replicas ${d1.overResults.length}, lost results ${d1.lost}${lostNote}` +
      (d1.unacknowledged
        ? `, results stored although the client got an error ${d1.unacknowledged}`
        : ''),
  );
}

/** A benchmark's report: one JSON line on stdout with --json, else indented on stderr. */
export function printReport(report: object, json: boolean | undefined): void {
  if (json) process.stdout.write(JSON.stringify(report) + '\n');
  else log(`\n${JSON.stringify(report, null, 2)}`);
}

/**
 * Experiments whose results fill every replica slot while all of them are still pending: nothing
 * will lease them again, so unless something validates them later their results never count.
 */
export async function strandedExperiments(
  persist: string,
): Promise<{ id: string; results: number }[]> {
  return queryLocal<{ id: string; results: number }>(
    persist,
    `SELECT e.id AS id, count(r.id) AS results FROM experiments e JOIN results r ON r.experiment_id = e.id
     WHERE e.status = 'open' GROUP BY e.id
     HAVING count(r.id) >= e.replicas_needed AND sum(r.verdict = 'pending') = count(r.id)`,
  );
}

/**
 * The client's view of double assignment: experiments on which more volunteers got a lease than it
 * has replica slots. The validator may have asked for more replicas (a disagreement, or a quorum
 * that needs another witness), so the bound is the experiment's replicas_needed in D1 after the
 * run, never below `replicas`. `crowded`: experiments with more than `replicas` volunteers.
 */
export async function countOverfull(
  persist: string,
  leasesPerExperiment: Map<string, Set<string>>,
  replicas: number,
  shards: D1Shard[] = [HOME_SHARD],
): Promise<{ crowded: number; overfull: number }> {
  const crowded = [...leasesPerExperiment].filter(([, s]) => s.size > replicas);
  const slots = new Map(
    crowded.length
      ? (
          await queryShards<{ id: string; n: number }>(
            persist,
            shards,
            `SELECT id, replicas_needed AS n FROM experiments WHERE id IN (${crowded.map(([id]) => sqlLiteral(id)).join(', ')})`,
          )
        ).map((r) => [r.id, r.n] as const)
      : [],
  );
  return {
    crowded: crowded.length,
    overfull: crowded.filter(([id, s]) => s.size > Math.max(replicas, slots.get(id) ?? replicas))
      .length,
  };
}
