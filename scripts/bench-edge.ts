// `npm run bench:edge`: a load test of the edge's volunteer loop, in workerd with local D1.
//
// Starts its own `wrangler dev` on a free port (from 8801) with a fresh `.wrangler/bench-edge`
// state, seeds a campaign of tiny experiments (two replicas each, as in production), and drives it
// with simulated volunteers for a fixed time. Every request is what a browser sends: registration
// signed by the key it registers, lease and result requests signed over (method, path, timestamp,
// SHA-256 of the body) in the x-tabgrid-* headers, results signed over their canonical JSON. A
// round trip is one lease plus one result; all replicas of an experiment report the same
// synthetic (valid) metrics, so experiments verify as they would with honest browsers.
//
// The Worker is bundled once, as a deploy would, and `wrangler dev --no-bundle` serves that frozen
// copy: edits to the sources during a run do not reload it. wrangler dev's local request tracing
// (X_LOCAL_OBSERVABILITY, a dev-only feature that writes every request and subrequest to a SQLite
// trace store) is off unless --dev-tracing, so the figures are the Worker's, not the dev tool's.
//
// Rate limits stay exactly as in wrangler.toml (nothing here turns them off). VOLUNTEER_LIMITER
// allows 200 requests per 10 s window per volunteer, i.e. 10 round trips/s; a real volunteer does a
// round trip every few minutes, so 1000 round trips/s in production means many thousands of distinct
// keys. A simulated volunteer (`--volunteers`: one closed loop, one request in flight) therefore
// rotates through `--keys` registered identities and spends at most 190 requests of a key's window;
// if all its keys are spent it waits for the next window, and that wait is reported ("paced"). A 429
// from the edge counts as an error like any other non-2xx or network failure.
//
// Afterwards the edge is stopped and local D1 is checked (`wrangler d1 execute --json`): no
// experiment with more live leases than replicas_needed, no volunteer twice on one experiment
// (doubleAssignments), and every result the client got a 2xx for is in the results table
// (lostResults).
//
//   npm run bench:edge -- [--volunteers 50] [--seconds 20] [--json]
//     --experiments N   experiments to seed (default: lease slots for 1000 round trips/s, +25 %)
//     --replicas R      replicas_needed and quorum of each experiment (default 2)
//     --keys K          identities per simulated volunteer (default 4)
//     --port P          first port to try (default 8801)
//     --profile         print the table of every D1 and rate-limiter call (counted and timed by the
//                       instrumented entry, edge/bench/profile.ts) and micro-benchmarks (D1 call,
//                       limiter, Ed25519, HTTP)
//     --entry FILE      serve another entry point (e.g. a candidate change in a scratch copy; no
//                       D1 counts then: d1CallsPerRoundTrip and rowsWrittenPerVerified are null)
//     --dev-tracing     keep wrangler dev's local tracing on
//     --persist DIR     local state directory, wiped and reseeded (default .wrangler/bench-edge)
//     --shards N        N local D1 shards (default 1): a config generated into the persist dir from
//                       wrangler.toml with bindings DB_1..DB_{N-1} and D1_SHARDS = N, every shard
//                       migrated, one campaign per shard (`bench` in shard 0, `c<k>_bench` in shard
//                       k) with the experiments split evenly, the volunteers spread evenly over the
//                       campaigns, and the after-run D1 checks run in every shard. Locally every
//                       shard is a SQLite file in the one workerd process, so this measures the
//                       sharded code path's cost, not Cloudflare's throughput per database.
//     --preload N       run twice with the same fleet: on the empty database, then on one that
//                       already holds N verified experiments of finished campaigns with their
//                       results, leases, volunteers, witnesses and ledger entries
//                       (lib/preload.ts; built once per N and schema, cached in
//                       node_modules/.cache/tabgrid-bench, copied for each run)
// With --json the last line of stdout is one JSON object:
//   {volunteers, seconds, roundTripsPerSec, leasesPerSec, resultsPerSec, p50Ms, p99Ms, errors,
//    doubleAssignments, lostResults, cpuMsPerRoundTrip, d1CallsPerRoundTrip, rowsWrittenPerVerified,
//    rowsWrittenPerRoundTrip, verified, shards}, with --shards N > 1 also
//    d1CallsPerRoundTripPerShard (shard 0 first), and with --preload: {preloaded, baseline: {p50Ms,
//    p99Ms, cpuMsPerRoundTrip, roundTripsPerSec}, p50Ratio, p99Ratio} (the top-level figures are the
//    preloaded run's).
// cpuMsPerRoundTrip: the workerd runtime process's CPU time (user + system from /proc: the Worker,
// the Durable Objects, local D1's SQLite and the rate limiters, all on that process) over the run ÷
// round trips. d1CallsPerRoundTrip: D1 calls (a batch is one call) by the Worker, the campaign
// queue and the ledger sequencer ÷ round trips, in all shards (d1CallsPerRoundTripPerShard: in
// each). rowsWrittenPerVerified: rows D1 reports written (meta.rows_written: index entries
// included) ÷ experiments verified during the run.
// Latencies are per request (leases and results together), measured at the client. Progress, CPU
// per process and the D1 checks go to stderr.
// The edge's lifecycle and D1 checks (lib/fleet-edge.ts), the simulated volunteers (lib/fleet.ts) and the
// /proc readings (lib/fleet-proc.ts) are shared with `npm run bench:soak`.
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  finishRun,
  isInterrupted,
  latency,
  log,
  logFindings,
  percentile,
  positiveInt,
  printReport,
  runBench,
  secondsSince,
  seedAndStartEdge,
} from './lib/fleet-edge.ts';
import { cpuDelta, machineCpu, processCpu } from './lib/fleet-proc.ts';
import { Fleet, type Identity } from './lib/fleet.ts';
import { preloadedDatabase } from './lib/preload-cache.ts';
import { ROOT } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    volunteers: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '20' },
    port: { type: 'string', default: '8801' },
    experiments: { type: 'string' }, // default: enough lease slots for the 1000 round trips/s target, +25 %
    replicas: { type: 'string', default: '2' }, // replicas_needed (and quorum) of each experiment
    keys: { type: 'string', default: '4' }, // identities per simulated volunteer
    json: { type: 'boolean', default: false },
    'dev-tracing': { type: 'boolean', default: false }, // keep wrangler dev's local request tracing on
    profile: { type: 'boolean', default: false }, // time every D1 / rate-limiter call, plus micro-benchmarks
    entry: { type: 'string' }, // serve this Worker entry point instead of wrangler.toml's main (a candidate change)
    persist: { type: 'string' }, // local state directory (default .wrangler/bench-edge), so two runs can share a machine
    preload: { type: 'string' }, // verified experiments in the database for a second run beside the empty one
    shards: { type: 'string', default: '1' }, // local D1 shards, one bench campaign in each
  },
});
const SHARDS = positiveInt('shards', values.shards);
// The edge tags ids with a shard number of at most three digits (shared/shard-ids.ts); the preload
// fills one database file.
if (SHARDS > 999 || (SHARDS > 1 && values.preload)) {
  console.error(
    SHARDS > 999
      ? `--shards must be at most 999 (got ${SHARDS})`
      : '--preload fills one database: it does not combine with --shards above 1',
  );
  process.exit(2);
}
const VOLUNTEERS = positiveInt('volunteers', values.volunteers);
const SECONDS = positiveInt('seconds', values.seconds);
const KEYS = positiveInt('keys', values.keys);
const REPLICAS = positiveInt('replicas', values.replicas);
const TARGET_ROUND_TRIPS_PER_SEC = 1000;
const EXPERIMENTS = positiveInt(
  'experiments',
  values.experiments ?? String(Math.ceil((1.25 * TARGET_ROUND_TRIPS_PER_SEC * SECONDS) / REPLICAS)),
);
const PERSIST = values.persist ? resolve(values.persist) : join(ROOT, '.wrangler', 'bench-edge');
const CAMPAIGN = 'bench';

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

let fleet: Fleet;

// --profile serves edge/bench/profile.ts instead of edge/src/index.ts: the same app with every D1
// statement and rate-limiter call timed, plus micro-benchmarks under /__bench/.

const get = (path: string) => fleet.get(path);

/** Per-operation cost of a micro-benchmark: (time for n − time for 0) / n, best of 3, at concurrency 1. */
async function microCost(path: string, n: number): Promise<number> {
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const empty = await get(`${path}?n=0`);
    const full = await get(`${path}?n=${n}`);
    if (full.status !== 200) throw new Error(`${path}: ${full.status} ${full.text}`);
    best = Math.min(best, (full.ms - empty.ms) / n);
  }
  return best;
}

interface CallStat {
  calls: number;
  wallMs: number;
  sqlMs: number;
  rowsRead: number;
  rowsWritten: number;
}
/** The instrumented entry's counts since the last read (it clears them). */
async function callStats(): Promise<Record<string, CallStat>> {
  return JSON.parse((await get('/__bench/stats')).text) as Record<string, CallStat>;
}
/** The shard of a call's key: profile.ts prefixes shard k ≥ 1's with `[DB_k] `. */
const SHARD_KEY = /^\[DB_(\d+)\] /;

/**
 * D1 calls and rows written in `calls` (routes and rate limiters are not D1 calls), in all and
 * per shard (shard 0 first).
 */
function d1Totals(calls: Record<string, CallStat>): {
  calls: number;
  rowsWritten: number;
  perShard: number[];
} {
  let n = 0;
  let rowsWritten = 0;
  const perShard = Array.from({ length: SHARDS }, () => 0);
  for (const [key, s] of Object.entries(calls)) {
    if (key.startsWith('route ') || key.startsWith('ratelimit ')) continue;
    n += s.calls;
    rowsWritten += s.rowsWritten;
    const k = Number(SHARD_KEY.exec(key)?.[1] ?? 0);
    perShard[k] = (perShard[k] ?? 0) + s.calls;
  }
  return { calls: n, rowsWritten, perShard };
}

async function profileReport(calls: Record<string, CallStat>, roundTrips: number): Promise<void> {
  const rows = Object.entries(calls).sort((a, b) => b[1].wallMs - a[1].wallMs);
  log(
    `\n  profile over ${roundTrips} round trips (wall = Date.now() around the awaited call inside the Worker, under load;`,
  );
  log(
    `  sql = D1's meta.duration, the statement inside SQLite; read, written = rows per call; 'queue' = the campaign queue's calls)`,
  );
  log(
    `  ${'calls/rt'.padStart(8)} ${'wall ms'.padStart(8)} ${'sql ms'.padStart(7)} ${'read'.padStart(7)} ${'written'.padStart(7)}  call`,
  );
  for (const [key, s] of rows) {
    log(
      `  ${(s.calls / Math.max(1, roundTrips)).toFixed(2).padStart(8)} ${(s.wallMs / s.calls).toFixed(2).padStart(8)} ${(s.sqlMs / s.calls).toFixed(3).padStart(7)} ${(s.rowsRead / s.calls).toFixed(0).padStart(7)} ${(s.rowsWritten / s.calls).toFixed(1).padStart(7)}  ${key.slice(0, 150)}`,
    );
  }
  // At concurrency 1, after the load: what one operation costs on this machine.
  const noop: number[] = [];
  for (let i = 0; i < 300; i++) noop.push((await get('/__bench/noop')).ms);
  noop.sort((a, b) => a - b);
  log(`\n  micro-benchmarks, concurrency 1 (ms per operation, best of 3):`);
  log(
    `    HTTP request through wrangler dev to the Worker (GET /__bench/noop, keep-alive) p50 ${percentile(noop, 50).toFixed(3)}`,
  );
  log(
    `    D1 call, SELECT 1 (.first())                         ${(await microCost('/__bench/d1', 500)).toFixed(3)}`,
  );
  log(
    `    D1 batch of 2 SELECTs                                ${(await microCost('/__bench/d1-batch2', 500)).toFixed(3)}`,
  );
  log(
    `    rate limiter .limit()                                ${(await microCost('/__bench/ratelimit', 500)).toFixed(3)}`,
  );
  log(
    `    Ed25519 verifyCanonical (import key + verify)         ${(await microCost('/__bench/verify', 500)).toFixed(3)}`,
  );
  log(
    `    SHA-256 of ~600 bytes                                ${(await microCost('/__bench/sha256', 500)).toFixed(3)}`,
  );
}

/** One timed run of the fleet against an edge on `persist`, created by `database` (default: migrated empty). */
async function runFleet(persist: string, database?: (persist: string) => Promise<void>) {
  const instrumented = !values.entry;
  const entry = values.entry ? resolve(values.entry) : join(ROOT, 'edge', 'bench', 'profile.ts');
  const { edge, base, shards, campaigns } = await seedAndStartEdge(
    {
      database,
      persist,
      campaign: CAMPAIGN,
      name: 'Edge benchmark',
      brief: 'Tiny synthetic experiments for npm run bench:edge.',
      experiments: EXPERIMENTS,
      replicas: REPLICAS,
      shards: SHARDS,
    },
    { port: Number(values.port), entry, devTracing: values['dev-tracing'] },
  );

  fleet = new Fleet(base, VOLUNTEERS);
  const stats = fleet.stats;
  const identities: Identity[][] = [];
  const t = performance.now();
  for (let v = 0; v < VOLUNTEERS; v++) {
    identities.push(await Promise.all(Array.from({ length: KEYS }, () => fleet.register())));
  }
  log(`  registered ${VOLUNTEERS * KEYS} keys in ${secondsSince(t)} s`);

  if (instrumented) await callStats(); // registration's calls are not the loop's
  const cpuBefore = processCpu(edge.pid);
  const machineBefore = machineCpu();
  const selfBefore = process.cpuUsage();
  const start = performance.now();
  const end = Date.now() + SECONDS * 1000;
  let last = { t: start, rt: 0 };
  const ticker = setInterval(() => {
    const now = performance.now();
    const lat = [...stats.leaseMs.slice(-2000), ...stats.resultMs.slice(-2000)];
    log(
      `  ${((now - start) / 1000).toFixed(0).padStart(3)} s  ${((stats.roundTrips - last.rt) / ((now - last.t) / 1000)).toFixed(0).padStart(5)} round trips/s` +
        `  total ${stats.roundTrips}  ${latency(lat)}  errors ${stats.errors}` +
        (stats.noLease ? `  no-lease ${stats.noLease}` : ''),
    );
    last = { t: now, rt: stats.roundTrips };
  }, 1000);
  // A closed loop: each simulated volunteer has one request in flight, a 429 is an error.
  // Volunteer v works for campaign v mod shards: each names it in its lease requests, as the web app does.
  await Promise.all(
    identities.map((ids, v) =>
      fleet.volunteer(ids, {
        campaignId: campaigns[v % campaigns.length]!,
        end,
        cost: 2,
        noLeaseWaitMs: () => 100,
        stopped: isInterrupted,
      }),
    ),
  );
  const elapsed = (performance.now() - start) / 1000;
  const cpu = cpuDelta(cpuBefore, processCpu(edge.pid));
  const self = process.cpuUsage(selfBefore);
  cpu.set('node (this benchmark: signing, HTTP client)', (self.user + self.system) / 1000);
  const machineAfter = machineCpu();
  const machineBusy = machineAfter.busy - machineBefore.busy;
  const ours = [...cpu.values()].reduce((a, b) => a + b, 0);
  clearInterval(ticker);
  const calls = instrumented ? await callStats() : null;
  if (calls && values.profile) await profileReport(calls, stats.roundTrips);
  const d1Calls = calls && d1Totals(calls);
  const runtimeCpuMs = [...cpu].find(([name]) => name.startsWith('workerd (runtime'))?.[1] ?? 0;
  const { d1, crowded, clientOverfull } = await finishRun(persist, fleet, REPLICAS, shards);
  const all = [...stats.leaseMs, ...stats.resultMs].sort((a, b) => a - b);

  log(
    `\n  ${elapsed.toFixed(1)} s measured: ${stats.roundTrips} round trips, ${stats.leases} leases, ${stats.results} results`,
  );
  log(`  latency lease  ${latency(stats.leaseMs)}   result ${latency(stats.resultMs)}`);
  if (stats.roundTrips) {
    log(
      `  CPU during the run (ms per round trip, % of one core):` +
        [...cpu]
          .sort((a, b) => b[1] - a[1])
          .map(
            ([name, ms]) =>
              `\n    ${(ms / stats.roundTrips).toFixed(2).padStart(6)} ms  ${(ms / 10 / elapsed).toFixed(0).padStart(3)} %  ${name}`,
          )
          .join(''),
    );
    log(
      `    machine: ${cpus().length} cores, ${(machineBusy / 10 / elapsed).toFixed(0)} % of one core busy in all, ` +
        `of which ${(Math.max(0, machineBusy - ours) / 10 / elapsed).toFixed(0)} % other processes`,
    );
  }
  log(
    `  errors ${stats.errors} (429s ${stats.throttled})${[...stats.errorSamples].map(([k, n]) => `\n    ${n} × ${k}`).join('')}`,
  );
  if (stats.noLease) log(`  ${stats.noLease} lease requests got no work: seed more --experiments`);
  logFindings(
    stats.pacedMs,
    d1,
    `client saw ${clientOverfull}; ${crowded} had more than ${REPLICAS} volunteers`,
  );

  // The seeded campaign starts with nothing verified (checkD1 leaves the preload out).
  const verified = d1.summary.verified;
  const report = {
    volunteers: VOLUNTEERS,
    seconds: SECONDS,
    roundTripsPerSec: round(stats.roundTrips / elapsed),
    leasesPerSec: round(stats.leases / elapsed),
    resultsPerSec: round(stats.results / elapsed),
    p50Ms: round(percentile(all, 50), 2),
    p99Ms: round(percentile(all, 99), 2),
    errors: stats.errors,
    doubleAssignments: Math.max(d1.doubleAssignments, clientOverfull),
    lostResults: d1.lost,
    cpuMsPerRoundTrip: stats.roundTrips ? round(runtimeCpuMs / stats.roundTrips, 2) : null,
    d1CallsPerRoundTrip:
      d1Calls && stats.roundTrips ? round(d1Calls.calls / stats.roundTrips, 2) : null,
    ...(SHARDS > 1 && {
      d1CallsPerRoundTripPerShard:
        d1Calls && stats.roundTrips
          ? d1Calls.perShard.map((n) => round(n / stats.roundTrips, 2))
          : null,
    }),
    rowsWrittenPerVerified: d1Calls && verified ? round(d1Calls.rowsWritten / verified, 1) : null,
    // In a short run most experiments still wait for their second replica, which inflates the
    // figure above; per round trip it is steady from the first second.
    rowsWrittenPerRoundTrip:
      d1Calls && stats.roundTrips ? round(d1Calls.rowsWritten / stats.roundTrips, 1) : null,
    verified,
    shards: SHARDS,
  };
  return report;
}

async function main(): Promise<void> {
  log(
    `bench:edge: ${VOLUNTEERS} volunteers × ${KEYS} keys, ${SECONDS} s, ${EXPERIMENTS} experiments × ${REPLICAS} replicas` +
      (SHARDS > 1 ? `, over ${SHARDS} D1 shards` : ''),
  );
  if (values.profile && values.entry)
    throw new Error(
      '--profile reads the instrumented entry (edge/bench/profile.ts); it does not combine with --entry',
    );
  if (!values.preload) {
    printReport(await runFleet(PERSIST), values.json);
    return;
  }
  const n = positiveInt('preload', values.preload);
  log(`\n  run 1 of 2: the empty database`);
  const baseline = await runFleet(PERSIST);
  log(`\n  run 2 of 2: ${n.toLocaleString('en')} verified experiments preloaded`);
  const full = await runFleet(`${PERSIST}-preloaded`, preloadedDatabase(n, CAMPAIGN));
  printReport(
    {
      ...full,
      preloaded: n,
      baseline: {
        p50Ms: baseline.p50Ms,
        p99Ms: baseline.p99Ms,
        cpuMsPerRoundTrip: baseline.cpuMsPerRoundTrip,
        roundTripsPerSec: baseline.roundTripsPerSec,
      },
      p50Ratio: round(full.p50Ms / baseline.p50Ms, 2),
      p99Ratio: round(full.p99Ms / baseline.p99Ms, 2),
    },
    values.json,
  );
}

await runBench('bench:edge', main);
