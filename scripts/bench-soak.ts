// `npm run bench:soak`: a soak test of the edge — many volunteers for many minutes, at the pace of
// real ones — that checks nothing is lost or assigned twice, errors stay rare and the edge's
// memory stays flat.
//
// Like `npm run bench:edge` it starts its own `wrangler dev` (a frozen bundle, fresh
// `.wrangler/bench-soak` state, rate limits as in wrangler.toml) and drives it with simulated
// volunteers holding real Ed25519 keys (scripts/lib/fleet.ts). Unlike bench:edge's closed loop, each
// volunteer here behaves like a browser tab: it arrives at a random moment within the first think
// time, leases, "trains" for a think time (uniform in 0.5–1.5 × --think-ms), heartbeats once
// halfway, submits its result, and leases again. A 429 waits for the limiter's next window and is
// resent, `{ lease: null }` waits its retryAfterSec, and a result that meets a 5xx or a network
// failure is resent up to 3 times, as the browser's outbox does. Requests share at most
// --concurrency keep-alive sockets, so 500 volunteers are not 500 sockets.
//
// The default think time, 20 s, keeps the offered load at what this 2-core machine serves without
// queueing: bench:edge measured ~18 ms of workerd CPU per round trip, so 500 volunteers at 20 s
// are ~25 round trips/s (+ heartbeats), about 0.7 of a core. A real tiny experiment trains for
// minutes, so this is already 5–10× denser than the same fleet in the field.
//
// Memory: the resident set (VmRSS) of the edge's workerd processes — the `wrangler dev` child's
// process tree — at the start, every --sample-s seconds and at the end, printed to stderr with a
// verdict from the least-squares slope over the run's second half (warm-up excluded).
//
// Errors: every non-2xx reply or network failure of a lease, heartbeat or result, except 429s that
// were waited out and resent and `{ lease: null }`; errorRate = errors / requests (retries
// included; registrations, before the run, are not). Afterwards the edge is stopped and local D1 is
// checked as bench:edge does: every result the client got a 2xx for is stored (lostResults), no
// experiment has more live leases than replica slots and no volunteer holds two of one
// (doubleAssignments).
//
//   npm run bench:soak -- [--volunteers 500] [--minutes 10] [--json]
//     --think-ms T      mean training time per lease (default 20000)
//     --concurrency C   HTTP sockets shared by the fleet (default 32)
//     --experiments N   experiments to seed (default: 1.25 × the leases the fleet can take, so work never runs out)
//     --replicas R      replicas_needed and quorum of each experiment (default 2)
//     --keys K          identities per simulated volunteer (default 1: a real volunteer's pace is far below the limit)
//     --sample-s S      memory sampling period (default 10)
//     --port P          first port to try (default 8851)
//     --dev-tracing     keep wrangler dev's local tracing on
// With --json the last line of stdout is one JSON object:
//   {volunteers, minutes, leases, results, lostResults, doubleAssignments, errorRate,
//    edgeMemoryMbStart, edgeMemoryMbEnd, p50ByMinuteMs, p99ByMinuteMs, lastToFirstP99Ratio}
// where the per-minute latencies are those of every lease, heartbeat and result that finished in
// that minute of the run (the last minute includes the drain after the deadline), and the ratio is
// the last minute's p99 over the first's (scripts/lib/minute-latency.ts).
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  finishRun,
  isInterrupted,
  latency,
  log,
  logFindings,
  positiveInt,
  printReport,
  runBench,
  secondsSince,
  seedAndStartEdge,
  strandedExperiments,
} from './lib/fleet-edge.ts';
import {
  cpuDelta,
  machineCpu,
  processCpu,
  sampleMemory,
  slope,
  type MemorySample,
} from './lib/fleet-proc.ts';
import { Fleet, type Identity } from './lib/fleet.ts';
import { latencyByMinute, MinuteMarks } from './lib/minute-latency.ts';
import { ROOT } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    volunteers: { type: 'string', default: '500' },
    minutes: { type: 'string', default: '10' },
    'think-ms': { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    experiments: { type: 'string' },
    replicas: { type: 'string', default: '2' },
    keys: { type: 'string', default: '1' },
    'sample-s': { type: 'string', default: '10' },
    port: { type: 'string', default: '8851' },
    json: { type: 'boolean', default: false },
    'dev-tracing': { type: 'boolean', default: false },
  },
});
const VOLUNTEERS = positiveInt('volunteers', values.volunteers);
const MINUTES = positiveInt('minutes', values.minutes);
const THINK_MS = positiveInt('think-ms', values['think-ms']);
const CONCURRENCY = positiveInt('concurrency', values.concurrency);
const REPLICAS = positiveInt('replicas', values.replicas);
const KEYS = positiveInt('keys', values.keys);
const SAMPLE_S = positiveInt('sample-s', values['sample-s']);
// Worst case every lease takes a fresh experiment (trusted volunteers' work may stand alone).
const EXPERIMENTS = positiveInt(
  'experiments',
  values.experiments ??
    String(Math.ceil((1.25 * VOLUNTEERS * MINUTES * 60_000) / THINK_MS) + VOLUNTEERS),
);
const PERSIST = join(ROOT, '.wrangler', 'bench-soak');
const CAMPAIGN = 'soak';
const RESULT_ATTEMPTS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (ms: number) => ms * (0.5 + Math.random());
const mb = (x: number) => x.toFixed(1);

/** Registers n simulated volunteers' keys, a few registrations in flight at a time. */
async function registerAll(fleet: Fleet, n: number): Promise<Identity[][]> {
  const out: Identity[][] = Array.from({ length: n }, () => []);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let v = next++; v < n; v = next++)
        for (let k = 0; k < KEYS; k++) out[v]!.push(await fleet.register());
    }),
  );
  return out;
}

/**
 * Growth of the edge's RSS over the second half of the run (the first half is warm-up). Flat when
 * the fitted growth over that half stays within max(10 MB, 5 % of the level). Warm-up is long under
 * wrangler dev: even a Worker answering a constant Response grew ~45 KB per request in the runtime
 * workerd and ~40 KB in the dev proxy, and levelled off only after ~20,000 requests (at ~770 and
 * ~565 MB; measured here, November 2026), so a run of a few thousand requests shows warm-up, not a leak.
 */
function memoryVerdict(samples: MemorySample[], requestsAt: number[]) {
  const t = samples.at(-1)?.atSec ?? 0;
  const points = (from: number, to: number) =>
    samples
      .filter((s) => s.atSec >= from && s.atSec <= to)
      .map((s) => ({ x: s.atSec / 60, y: s.workerdMb }));
  const late = points(t / 2, t);
  const perMinLate = slope(late);
  const perMinEarly = slope(points(0, t / 2));
  const level = late.reduce((a, p) => a + p.y, 0) / Math.max(1, late.length);
  const growth = (perMinLate * t) / 2 / 60;
  const flat = growth <= Math.max(10, 0.05 * level);
  const half = samples.findIndex((s) => s.atSec >= t / 2);
  const lateRequests = (requestsAt.at(-1) ?? 0) - (requestsAt[Math.max(0, half)] ?? 0);
  return {
    perMinEarly,
    perMinLate,
    growth,
    flat,
    kbPerRequest: lateRequests ? (growth * 1024) / lateRequests : 0,
  };
}

async function main(): Promise<void> {
  log(
    `bench:soak: ${VOLUNTEERS} volunteers × ${KEYS} keys, ${MINUTES} min, think ${THINK_MS} ms ±50 %, ` +
      `${CONCURRENCY} sockets, ${EXPERIMENTS} experiments × ${REPLICAS} replicas`,
  );
  const { edge, base } = await seedAndStartEdge(
    {
      persist: PERSIST,
      campaign: CAMPAIGN,
      name: 'Edge soak',
      brief: 'Tiny synthetic experiments for npm run bench:soak.',
      experiments: EXPERIMENTS,
      replicas: REPLICAS,
    },
    { port: Number(values.port), devTracing: values['dev-tracing'] },
  );
  const idle = sampleMemory(edge.pid, 0);
  log(`  idle RSS workerd ${mb(idle.workerdMb)} MB, tree ${mb(idle.treeMb)} MB`);

  const fleet = new Fleet(base, CONCURRENCY);
  const stats = fleet.stats;
  const t = performance.now();
  const identities = await registerAll(fleet, VOLUNTEERS);
  log(`  registered ${VOLUNTEERS * KEYS} keys in ${secondsSince(t)} s`);

  const cpuBefore = processCpu(edge.pid);
  const machineBefore = machineCpu();
  const start = performance.now();
  const end = Date.now() + MINUTES * 60_000;
  const samples: MemorySample[] = [sampleMemory(edge.pid, 0)];
  const requests = () => [...stats.requests.values()].reduce((a, b) => a + b, 0);
  const requestsAt = [0]; // requests sent by each sample's time
  let last = { t: start, leases: 0, requests: 0 };
  const sample = () => {
    const now = performance.now();
    const m = sampleMemory(edge.pid, (now - start) / 1000);
    samples.push(m);
    requestsAt.push(requests());
    const lat = [
      ...stats.leaseMs.slice(-1000),
      ...stats.heartbeatMs.slice(-1000),
      ...stats.resultMs.slice(-1000),
    ];
    const dt = (now - last.t) / 1000;
    log(
      `  ${m.atSec.toFixed(0).padStart(4)} s  RSS workerd ${mb(m.workerdMb).padStart(6)} MB (runtime ${mb(m.runtimeMb).padStart(6)})  tree ${mb(m.treeMb).padStart(6)} MB` +
        `  ${((stats.leases - last.leases) / dt).toFixed(1).padStart(5)} leases/s  ${((requests() - last.requests) / dt).toFixed(0).padStart(4)} req/s` +
        `  leases ${stats.leases}  results ${stats.results}  errors ${stats.errors}  ${latency(lat)}` +
        (stats.noLease ? `  no-lease ${stats.noLease}` : '') +
        (stats.throttled ? `  429s ${stats.throttled}` : ''),
    );
    last = { t: now, leases: stats.leases, requests: requests() };
  };
  const s0 = samples[0]!;
  log(
    `     0 s  RSS workerd ${mb(s0.workerdMb).padStart(6)} MB (runtime ${mb(s0.runtimeMb).padStart(6)})  tree ${mb(s0.treeMb).padStart(6)} MB  (start)`,
  );
  const ticker = setInterval(sample, SAMPLE_S * 1000);
  const minutes = new MinuteMarks([stats.leaseMs, stats.heartbeatMs, stats.resultMs]);
  let marked = 0;
  const minuteTicker = setInterval(() => {
    if (++marked < MINUTES) minutes.mark();
  }, 60_000);

  await Promise.all(
    identities.map(async (ids) => {
      await sleep(Math.random() * THINK_MS); // arrivals spread over the first think time, not one burst
      await fleet.volunteer(ids, {
        campaignId: CAMPAIGN,
        end,
        cost: 3, // lease, heartbeat, result
        think: () => jitter(THINK_MS),
        heartbeat: true,
        retryThrottled: true,
        resultAttempts: RESULT_ATTEMPTS,
        noLeaseWaitMs: (retryAfterSec) => jitter(retryAfterSec * 1000),
        stopped: isInterrupted,
      });
    }),
  );
  clearInterval(ticker);
  clearInterval(minuteTicker);
  sample(); // the end: every round trip in flight at the deadline has finished
  const elapsed = (performance.now() - start) / 1000;
  const cpu = cpuDelta(cpuBefore, processCpu(edge.pid));
  const machineBusy = machineCpu().busy - machineBefore.busy;
  const { d1, clientOverfull } = await finishRun(PERSIST, fleet, REPLICAS);
  const stranded = await strandedExperiments(PERSIST);
  const total = requests();
  const errorRate = total ? stats.errors / total : 0;
  const verdict = memoryVerdict(samples, requestsAt);
  const first = samples[0]!;
  const final = samples.at(-1)!;
  const peak = samples.reduce((a, s) => (s.workerdMb > a.workerdMb ? s : a), first);

  log(
    `\n  ${elapsed.toFixed(1)} s measured (${MINUTES} min + the last round trips' drain): ${stats.leases} leases, ${stats.heartbeats} heartbeats, ${stats.results} results`,
  );
  log(
    `  latency lease ${latency(stats.leaseMs)}   heartbeat ${latency(stats.heartbeatMs)}   result ${latency(stats.resultMs)}`,
  );
  log(
    `  CPU during the run (% of one core):` +
      [...cpu]
        .sort((a, b) => b[1] - a[1])
        .map(([name, ms]) => `\n    ${(ms / 10 / elapsed).toFixed(0).padStart(3)} %  ${name}`)
        .join('') +
      `\n    machine: ${cpus().length} cores, ${(machineBusy / 10 / elapsed).toFixed(0)} % of one core busy in all`,
  );
  log(
    `  requests ${total} (${[...stats.requests].map(([r, n]) => `${r} ${n}`).join(', ')}; ${stats.retries} resent)`,
  );
  log(
    `  errors ${stats.errors} = ${(errorRate * 100).toFixed(3)} % of requests` +
      [...stats.errorSamples]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `\n    ${n} × ${k}`)
        .join(''),
  );
  log(
    `  expected, not errors: ${stats.throttled} × 429 waited out and resent, ${stats.noLease} × { lease: null }` +
      (stats.noLease ? ' (seed more --experiments if the campaign ran dry)' : ''),
  );
  logFindings(
    stats.pacedMs,
    d1,
    `client saw ${clientOverfull}`,
    ` of ${fleet.okResults.size} acknowledged`,
  );
  log(
    `  stranded experiments (every replica slot filled, every result still pending, nothing will lease them again) ${stranded.length}` +
      (stranded.length
        ? ` holding ${stranded.reduce((a, e) => a + e.results, 0)} acknowledged results, e.g. ${stranded
            .slice(0, 3)
            .map((e) => e.id)
            .join(', ')}`
        : ''),
  );
  log(
    `  memory (workerd RSS): start ${mb(first.workerdMb)} MB, peak ${mb(peak.workerdMb)} MB at ${peak.atSec.toFixed(0)} s, end ${mb(final.workerdMb)} MB ` +
      `(runtime ${mb(first.runtimeMb)} → ${mb(final.runtimeMb)} MB); ` +
      `tree ${mb(first.treeMb)} → ${mb(final.treeMb)} MB`,
  );
  log(
    `  memory verdict: ${verdict.flat ? 'FLAT' : 'GROWING'} — slope ${verdict.perMinLate.toFixed(2)} MB/min over the second half ` +
      `(${verdict.growth >= 0 ? '+' : ''}${mb(verdict.growth)} MB across it, ${verdict.kbPerRequest.toFixed(1)} KB per request; first half ${verdict.perMinEarly.toFixed(2)} MB/min)`,
  );

  const byMinute = latencyByMinute(minutes.minutes());
  log(
    `  latency by minute (all routes): p50 ${byMinute.p50ByMinuteMs.join(', ')} ms; p99 ${byMinute.p99ByMinuteMs.join(', ')} ms; ` +
      `last/first p99 ${byMinute.lastToFirstP99Ratio ?? 'n/a'}`,
  );

  const report = {
    volunteers: VOLUNTEERS,
    minutes: MINUTES,
    leases: stats.leases,
    results: stats.results,
    lostResults: d1.lost,
    doubleAssignments: Math.max(d1.doubleAssignments, clientOverfull),
    errorRate: Number(errorRate.toFixed(6)),
    edgeMemoryMbStart: Number(first.workerdMb.toFixed(1)),
    edgeMemoryMbEnd: Number(final.workerdMb.toFixed(1)),
    ...byMinute,
  };
  printReport(report, values.json);
}

await runBench('bench:soak', main);
