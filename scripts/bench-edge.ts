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
//     --profile         serve the app through a wrapper that times every D1 and rate-limiter call,
//                       then print that table and micro-benchmarks (D1 call, limiter, Ed25519, HTTP)
//     --entry FILE      serve another entry point (e.g. a candidate change in a scratch copy)
//     --dev-tracing     keep wrangler dev's local tracing on
// With --json the last line of stdout is one JSON object:
//   {volunteers, seconds, roundTripsPerSec, leasesPerSec, resultsPerSec, p50Ms, p99Ms, errors,
//    doubleAssignments, lostResults}
// Latencies are per request (leases and results together), measured at the client. Progress, CPU
// per process and the D1 checks go to stderr.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exportPublicKey, generateSigningKey, sha256, signCanonical, volunteerIdFor } from '../shared/crypto.ts';
import { PRESETS } from '../shared/model/presets.ts';
import {
  SIGNATURE_HEADERS,
  signedRequestPayload,
  type Lease,
  type LeaseResponse,
  type Metrics,
  type RegisterPayload,
  type ResultPayload,
  type ResultResponse,
} from '../shared/protocol.ts';
import { commitSteps } from '../shared/commit.ts';
import { curveLength, tokenBudget, type ExperimentSpec } from '../shared/spec.ts';
import { bundleWorker, migrate, queryLocal, registerDataset, seedCampaign, startDev, waitForHealth } from './local-edge.ts';
import { ROOT } from './wrangler.ts';

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
  },
});
const VOLUNTEERS = positiveInt('volunteers', values.volunteers);
const SECONDS = positiveInt('seconds', values.seconds);
const KEYS = positiveInt('keys', values.keys);
const REPLICAS = positiveInt('replicas', values.replicas);
const TARGET_ROUND_TRIPS_PER_SEC = 1000;
const EXPERIMENTS = positiveInt('experiments', values.experiments ?? String(Math.ceil((1.25 * TARGET_ROUND_TRIPS_PER_SEC * SECONDS) / REPLICAS)));
const PERSIST = join(ROOT, '.wrangler', 'bench-edge');
const CAMPAIGN = 'bench';
/** VOLUNTEER_LIMITER in wrangler.toml: 200 requests per 10 s window, windows aligned to the clock. */
const LIMIT_WINDOW_MS = 10_000;
const LIMIT_BUDGET = 190; // a margin of 10 for requests that cross a window boundary in flight

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer (got ${v})`);
    process.exit(2);
  }
  return n;
}

const log = (line: string) => process.stderr.write(line + '\n');

// ---------------------------------------------------------------------------------------------
// The edge

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function freePort(preferred: number): Promise<number> {
  for (let p = preferred; p < preferred + 50; p++) if (await portIsFree(p)) return p;
  throw new Error(`no free port in ${preferred}–${preferred + 49}`);
}

let edge: ChildProcess | null = null;

function stopEdge(): Promise<void> {
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

let interrupted = false;
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

function benchSpec(seed: number, datasetSha256: string): ExperimentSpec {
  const p = PRESETS.tiny;
  return {
    template: 'gpt-char',
    dataset: { id: CAMPAIGN, sha256: datasetSha256 },
    model: { ...p.model, vocabSize: 40 },
    train: { ...p.train },
    seed,
    evalWindows: p.evalWindows,
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP: keep-alive sockets, at most one per simulated volunteer

let agent: http.Agent;
let base: URL;

interface Reply<T> {
  status: number;
  body: T;
  ms: number;
}

function post<T>(path: string, text: string, headers: Record<string, string> = {}): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString();
          let body: unknown = raw;
          try {
            body = JSON.parse(raw);
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: body as T, ms: performance.now() - t0 });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

// ---------------------------------------------------------------------------------------------
// Volunteers

interface Identity {
  volunteerId: string;
  publicKey: string;
  keys: CryptoKeyPair;
  ip: string; // this volunteer's address, as CF-Connecting-IP
  backend: 'webgpu' | 'wasm';
  adapter: string;
  window: number; // the rate-limit window `used` counts in
  used: number;
}

/**
 * The n-th simulated volunteer's address, from 198.18.0.0/15 (RFC 2544: reserved for benchmarks).
 * In production Cloudflare sets CF-Connecting-IP to each client's address; locally wrangler dev
 * sets 127.0.0.1 unless the client sends one. One shared address would make every volunteer look
 * like one household to the scheduler (two leases from one address never replicate each other)
 * and to IP_LIMITER, which is not what many volunteers look like.
 */
function addressOf(n: number): string {
  return `198.${18 + ((n >> 16) & 1)}.${(n >> 8) & 255}.${n & 255}`;
}

let identities = 0;

async function newIdentity(): Promise<Identity> {
  const n = ++identities;
  const keys = await generateSigningKey();
  const publicKey = await exportPublicKey(keys.publicKey);
  const ip = addressOf(n);
  const payload: RegisterPayload = { type: 'register', publicKey, timestamp: Date.now() };
  const signature = await signCanonical(keys.privateKey, payload);
  const res = await post<{ volunteerId: string }>('/api/volunteers', JSON.stringify({ payload, signature }), { 'cf-connecting-ip': ip });
  const volunteerId = await volunteerIdFor(publicKey);
  if (res.status !== 201 || res.body.volunteerId !== volunteerId) {
    throw new Error(`registration failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  // A mixed fleet, half WebGPU and half WASM, so replicas meet another backend class as the
  // scheduler prefers (a same-class replica waits for STEER_WAIT_MS).
  const backend = n % 2 ? 'webgpu' : 'wasm';
  const adapter = backend === 'webgpu' ? 'bench (simulated GPU)' : 'bench (simulated CPU)';
  return { volunteerId, publicKey, keys, ip, backend, adapter, window: 0, used: 0 };
}

/** Exactly the browser's postSigned (web/src/lib/api.ts), over node:http. */
async function postSigned<T>(id: Identity, path: string, body: unknown): Promise<Reply<T>> {
  const text = JSON.stringify(body);
  const timestamp = Date.now();
  const signature = await signCanonical(id.keys.privateKey, signedRequestPayload('POST', path, timestamp, await sha256(text)));
  return post<T>(path, text, {
    [SIGNATURE_HEADERS.volunteer]: id.volunteerId,
    [SIGNATURE_HEADERS.timestamp]: String(timestamp),
    [SIGNATURE_HEADERS.signature]: signature,
    [SIGNATURE_HEADERS.key]: id.publicKey,
    'cf-connecting-ip': id.ip,
  });
}

/**
 * Synthetic but valid metrics, as honest browsers would report them: every replica of one
 * experiment agrees within shared/verify.ts's tolerances, bit-identical on the same backend and a
 * little apart across backends (which round differently: the edge takes bit-identical results from
 * two backend classes for a copy); checkpoint commitments (one per shared/commit.ts commit step).
 */
async function metricsFor(lease: Lease, id: Identity): Promise<Metrics> {
  const spec = lease.spec;
  const drift = id.backend === 'webgpu' ? 1e-4 : 0; // far below TAU_BPB and TAU_CURVE
  const valBpb = 2.5 + (spec.seed % 1000) / 1000 + drift;
  const commitments = await Promise.all(commitSteps(spec.train).map((step) => sha256(`${lease.leaseId}:${step}`)));
  return {
    valBpb,
    valLoss: valBpb * Math.LN2,
    curve: Array.from({ length: curveLength(spec.train) }, (_, i) => 3.5 - 0.1 * i + drift),
    steps: spec.train.steps,
    tokens: tokenBudget(spec),
    backend: id.backend,
    wallMs: 1000,
    msPerStep: 30,
    commitments,
  };
}

// ---------------------------------------------------------------------------------------------
// Measurements

const stats = {
  leases: 0,
  results: 0,
  roundTrips: 0,
  errors: 0,
  throttled: 0, // 429s, also counted in errors
  noLease: 0, // 200 { lease: null }: the campaign ran dry or a key held too many open leases
  pacedMs: 0,
  leaseMs: [] as number[],
  resultMs: [] as number[],
  errorSamples: new Map<string, number>(),
};
const okResults = new Map<string, string>(); // resultId → leaseId, for every 2xx result
const leasesPerExperiment = new Map<string, Set<string>>(); // client's view: experiment → volunteers

function error(what: string): void {
  stats.errors++;
  stats.errorSamples.set(what, (stats.errorSamples.get(what) ?? 0) + 1);
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/**
 * The simulated volunteer's next identity: its keys in turn (so the load spreads over all of them,
 * half WebGPU, half WASM), skipping keys whose rate-limit window is spent; when all are, it waits
 * for the next window.
 */
async function pickIdentity(ids: Identity[], turn: number, end: number): Promise<Identity | null> {
  for (;;) {
    const now = Date.now();
    const window = Math.floor(now / LIMIT_WINDOW_MS);
    for (let k = 0; k < ids.length; k++) {
      const id = ids[(turn + k) % ids.length]!;
      if (id.window !== window) {
        id.window = window;
        id.used = 0;
      }
      if (id.used + 2 <= LIMIT_BUDGET) {
        id.used += 2;
        return id;
      }
    }
    const wait = (window + 1) * LIMIT_WINDOW_MS - now + 5;
    if (now + wait >= end) return null;
    stats.pacedMs += wait;
    await new Promise((r) => setTimeout(r, wait));
  }
}

async function volunteerLoop(ids: Identity[], end: number): Promise<void> {
  for (let turn = 0; Date.now() < end && !interrupted; turn++) {
    const id = await pickIdentity(ids, turn, end);
    if (!id) return;
    let lease: Lease;
    try {
      const res = await postSigned<LeaseResponse>(id, '/api/leases', {
        campaignId: CAMPAIGN,
        capabilities: { backend: id.backend, adapter: id.adapter, tokensPerSec: 5000 },
      });
      stats.leaseMs.push(res.ms);
      if (res.status !== 200) {
        if (res.status === 429) stats.throttled++;
        error(`lease ${res.status} ${(res.body as { error?: string }).error ?? ''}`);
        continue;
      }
      if (!res.body.lease) {
        stats.noLease++;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      lease = res.body.lease;
      stats.leases++;
      const holders = leasesPerExperiment.get(lease.experimentId) ?? new Set();
      holders.add(id.volunteerId);
      leasesPerExperiment.set(lease.experimentId, holders);
    } catch (err) {
      error(`lease network ${(err as Error).message}`);
      continue;
    }
    try {
      const result: ResultPayload = {
        type: 'result',
        leaseId: lease.leaseId,
        leaseToken: lease.leaseToken,
        experimentId: lease.experimentId,
        specHash: lease.specHash,
        datasetSha256: lease.spec.dataset.sha256,
        metrics: await metricsFor(lease, id),
      };
      const signature = await signCanonical(id.keys.privateKey, result);
      const res = await postSigned<ResultResponse>(id, '/api/results', { result, signature });
      stats.resultMs.push(res.ms);
      if (res.status !== 201 && res.status !== 200) {
        if (res.status === 429) stats.throttled++;
        error(`result ${res.status} ${(res.body as { error?: string }).error ?? ''}`);
        continue;
      }
      okResults.set(res.body.resultId, lease.leaseId);
      stats.results++;
      stats.roundTrips++;
    } catch (err) {
      error(`result network ${(err as Error).message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// After the run: what D1 holds

async function checkD1(now: number) {
  // More live (done, or open before the deadline) leases than replica slots on one experiment.
  const overfull = await queryLocal<{ id: string; needed: number; live: number }>(PERSIST,
    `SELECT e.id AS id, e.replicas_needed AS needed, count(l.id) AS live
     FROM experiments e JOIN leases l ON l.experiment_id = e.id
     WHERE l.status = 'done' OR l.deadline > ${now}
     GROUP BY e.id HAVING count(l.id) > e.replicas_needed`);
  // One volunteer holding two leases of one experiment (the UNIQUE constraint should forbid it).
  const twice = await queryLocal<{ experimentId: string; volunteerId: string; n: number }>(PERSIST,
    `SELECT experiment_id AS experimentId, volunteer_id AS volunteerId, count(*) AS n
     FROM leases GROUP BY experiment_id, volunteer_id HAVING count(*) > 1`);
  // More results than replica slots on one experiment.
  const overResults = await queryLocal<{ id: string; n: number }>(PERSIST,
    `SELECT e.id AS id, count(r.id) AS n FROM experiments e JOIN results r ON r.experiment_id = e.id
     GROUP BY e.id HAVING count(r.id) > e.replicas_needed`);
  const stored = await queryLocal<{ id: string; leaseId: string }>(PERSIST, 'SELECT id, lease_id AS leaseId FROM results');
  const summary = await queryLocal<{ leases: number; results: number; verified: number; open: number; disputed: number }>(PERSIST,
    `SELECT (SELECT count(*) FROM leases) AS leases, (SELECT count(*) FROM results) AS results,
            (SELECT count(*) FROM experiments WHERE status = 'verified') AS verified,
            (SELECT count(*) FROM experiments WHERE status = 'open') AS open,
            (SELECT count(*) FROM experiments WHERE status = 'disputed') AS disputed`);
  const byId = new Map(stored.map((r) => [r.id, r.leaseId]));
  let lost = 0;
  for (const [resultId, leaseId] of okResults) if (byId.get(resultId) !== leaseId) lost++;
  // Stored although the client saw an error (a failure after the write): not lost, but worth knowing.
  const unacknowledged = stored.filter((r) => !okResults.has(r.id)).length;
  return {
    doubleAssignments: overfull.reduce((s, r) => s + (r.live - r.needed), 0) + twice.reduce((s, r) => s + (r.n - 1), 0),
    overfull,
    twice,
    overResults,
    lost,
    unacknowledged,
    summary: summary[0]!,
  };
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// CPU time of the edge's processes (Linux /proc; empty elsewhere): where the machine's cores go.

const CLOCK_TICKS_PER_SEC = 100; // USER_HZ on Linux

function processCpu(rootPid: number | undefined): Map<number, { name: string; ms: number }> {
  const out = new Map<number, { name: string; ms: number }>();
  if (rootPid === undefined) return out;
  const all = new Map<number, { ppid: number; name: string; ms: number; args: string }>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' '); // fields[0] is state (field 3)
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      all.set(Number(pid), {
        ppid: Number(fields[1]),
        name: stat.slice(stat.indexOf('(') + 1, close),
        ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SEC,
        args,
      });
    } catch {
      // gone
    }
  }
  const keep = new Set([rootPid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of all) if (!keep.has(pid) && keep.has(p.ppid)) (keep.add(pid), (grew = true));
  }
  for (const pid of keep) {
    const p = all.get(pid);
    if (!p) continue;
    const role = p.name === 'workerd' ? (/entry=127\.0\.0\.1:0\b/.test(p.args) ? 'workerd (runtime: Worker, D1, rate limiters)' : 'workerd (dev proxy)') : p.name === 'esbuild' ? 'esbuild' : `${p.name} (wrangler)`;
    out.set(pid, { name: role, ms: p.ms });
  }
  return out;
}

/** Busy and total CPU time of the whole machine, in ms (all cores). */
function machineCpu(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: ((total - idle) * 1000) / CLOCK_TICKS_PER_SEC, total: (total * 1000) / CLOCK_TICKS_PER_SEC };
  } catch {
    return { busy: 0, total: 0 };
  }
}

function cpuDelta(before: Map<number, { name: string; ms: number }>, after: Map<number, { name: string; ms: number }>) {
  const byName = new Map<string, number>();
  for (const [pid, a] of after) byName.set(a.name, (byName.get(a.name) ?? 0) + a.ms - (before.get(pid)?.ms ?? 0));
  return byName;
}

// ---------------------------------------------------------------------------------------------
// --profile: the same app, served through a generated wrapper entry point (wrangler dev [script])
// that times every D1 statement and rate-limiter call, plus micro-benchmarks under /__bench/.
// The normal run serves edge/src/index.ts itself, untouched.

const profileWorker = (app: string, crypto: string) => `// Generated by scripts/bench-edge.ts --profile. Not the production entry point.
import app from '${app}';
export * from '${app}'; // Durable Object classes and any other named exports wrangler.toml binds
import { exportPublicKey, generateSigningKey, sha256, signCanonical, verifyCanonical } from '${crypto}';

const stats = new Map();
function add(key, wallMs, sqlMs = 0, rowsRead = 0) {
  const s = stats.get(key) ?? { calls: 0, wallMs: 0, sqlMs: 0, rowsRead: 0 };
  s.calls++; s.wallMs += wallMs; s.sqlMs += sqlMs; s.rowsRead += rowsRead;
  stats.set(key, s);
}
const norm = (sql) => sql.replace(/--[^\\n]*/g, ' ').replace(/\\s+/g, ' ').trim();

function wrapStmt(stmt, sql) {
  const timed = async (call) => {
    const t0 = Date.now();
    const r = await stmt.all(); // all() carries meta (first() does not); same rows
    add(call + ' ' + norm(sql), Date.now() - t0, r.meta.duration ?? 0, r.meta.rows_read ?? 0);
    return r;
  };
  return {
    stmt, sql,
    bind: (...args) => wrapStmt(stmt.bind(...args), sql),
    first: async (col) => {
      const row = (await timed('first')).results[0] ?? null;
      return col === undefined ? row : row === null ? null : row[col];
    },
    all: () => timed('all'),
    run: () => timed('run'),
    raw: (o) => stmt.raw(o),
  };
}

function wrapDb(db) {
  return {
    prepare: (sql) => wrapStmt(db.prepare(sql), sql),
    batch: async (list) => {
      const t0 = Date.now();
      const rs = await db.batch(list.map((s) => s.stmt));
      add('batch(' + list.length + ') ' + list.map((s) => norm(s.sql).slice(0, 40)).join(' ; '), Date.now() - t0,
        rs.reduce((a, r) => a + (r.meta.duration ?? 0), 0), rs.reduce((a, r) => a + (r.meta.rows_read ?? 0), 0));
      return rs;
    },
    exec: (q) => db.exec(q),
    dump: () => db.dump(),
  };
}

const wrapLimiter = (name, l) => ({
  limit: async (o) => {
    const t0 = Date.now();
    const r = await l.limit(o);
    add('ratelimit ' + name, Date.now() - t0);
    return r;
  },
});

let signed;
async function micro(url, env) {
  const n = Number(url.searchParams.get('n') ?? 0);
  switch (url.pathname) {
    case '/__bench/noop':
      return new Response('ok');
    case '/__bench/d1':
      for (let i = 0; i < n; i++) await env.DB.prepare('SELECT 1 AS x').first();
      return new Response('ok');
    case '/__bench/d1-batch2':
      for (let i = 0; i < n; i++) await env.DB.batch([env.DB.prepare('SELECT 1 AS x'), env.DB.prepare('SELECT 2 AS y')]);
      return new Response('ok');
    case '/__bench/ratelimit':
      for (let i = 0; i < n; i++) await env.IP_LIMITER.limit({ key: 'micro-' + i });
      return new Response('ok');
    case '/__bench/verify': {
      if (!signed) {
        const keys = await generateSigningKey();
        const value = { method: 'POST', path: '/api/leases', timestamp: Date.now(), bodySha256: await sha256('{}') };
        signed = { publicKey: await exportPublicKey(keys.publicKey), signature: await signCanonical(keys.privateKey, value), value };
      }
      let ok = 0;
      for (let i = 0; i < n; i++) ok += (await verifyCanonical(signed.publicKey, signed.signature, signed.value)) ? 1 : 0;
      return new Response(String(ok));
    }
    case '/__bench/sha256':
      for (let i = 0; i < n; i++) await sha256('x'.repeat(600) + i);
      return new Response('ok');
    case '/__bench/stats': {
      const out = Object.fromEntries(stats);
      stats.clear();
      return Response.json(out);
    }
  }
  return new Response('unknown', { status: 404 });
}

export default {
  async fetch(req, env, ctx) {
    const url = new URL(req.url);
    if (url.pathname.startsWith('/__bench/')) return micro(url, env);
    const wrapped = { ...env, DB: wrapDb(env.DB), IP_LIMITER: wrapLimiter('IP_LIMITER', env.IP_LIMITER),
      VOLUNTEER_LIMITER: wrapLimiter('VOLUNTEER_LIMITER', env.VOLUNTEER_LIMITER) };
    const t0 = Date.now();
    const res = await app.fetch(req, wrapped, ctx);
    add('route ' + req.method + ' ' + url.pathname, Date.now() - t0);
    return res;
  },
};
`;

async function get(path: string): Promise<{ status: number; text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http
      .get({ agent, host: base.hostname, port: base.port, path }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - t0 }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

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

async function profileReport(roundTrips: number): Promise<void> {
  const calls = JSON.parse((await get('/__bench/stats')).text) as Record<string, { calls: number; wallMs: number; sqlMs: number; rowsRead: number }>;
  const rows = Object.entries(calls).sort((a, b) => b[1].wallMs - a[1].wallMs);
  log(`\n  profile over ${roundTrips} round trips (wall = Date.now() around the awaited call inside the Worker, under load;`);
  log(`  sql = D1's meta.duration, the statement inside SQLite; rows = rows read)`);
  log(`  ${'calls/rt'.padStart(8)} ${'wall ms'.padStart(8)} ${'sql ms'.padStart(7)} ${'rows'.padStart(7)}  call`);
  for (const [key, s] of rows) {
    log(`  ${(s.calls / Math.max(1, roundTrips)).toFixed(2).padStart(8)} ${(s.wallMs / s.calls).toFixed(2).padStart(8)} ${(s.sqlMs / s.calls).toFixed(3).padStart(7)} ${(s.rowsRead / s.calls).toFixed(0).padStart(7)}  ${key.slice(0, 150)}`);
  }
  // At concurrency 1, after the load: what one operation costs on this machine.
  const noop: number[] = [];
  for (let i = 0; i < 300; i++) noop.push((await get('/__bench/noop')).ms);
  noop.sort((a, b) => a - b);
  log(`\n  micro-benchmarks, concurrency 1 (ms per operation, best of 3):`);
  log(`    HTTP request through wrangler dev to the Worker (GET /__bench/noop, keep-alive) p50 ${percentile(noop, 50).toFixed(3)}`);
  log(`    D1 call, SELECT 1 (.first())                         ${(await microCost('/__bench/d1', 500)).toFixed(3)}`);
  log(`    D1 batch of 2 SELECTs                                ${(await microCost('/__bench/d1-batch2', 500)).toFixed(3)}`);
  log(`    rate limiter .limit()                                ${(await microCost('/__bench/ratelimit', 500)).toFixed(3)}`);
  log(`    Ed25519 verifyCanonical (import key + verify)         ${(await microCost('/__bench/verify', 500)).toFixed(3)}`);
  log(`    SHA-256 of ~600 bytes                                ${(await microCost('/__bench/sha256', 500)).toFixed(3)}`);
}

async function main(): Promise<void> {
  const port = await freePort(Number(values.port));
  base = new URL(`http://127.0.0.1:${port}`);
  rmSync(PERSIST, { recursive: true, force: true });
  mkdirSync(PERSIST, { recursive: true });

  log(`bench:edge: ${VOLUNTEERS} volunteers × ${KEYS} keys, ${SECONDS} s, ${EXPERIMENTS} experiments × ${REPLICAS} replicas, port ${port}`);
  let t = performance.now();
  await migrate(PERSIST);
  // A synthetic dataset row: the edge only compares the dataset hash, it never reads the files.
  const datasetSha256 = await sha256('tabgrid bench dataset');
  await registerDataset(PERSIST, { id: CAMPAIGN, manifestSha256: datasetSha256, vocabSize: 40, name: 'Benchmark (synthetic)' });
  await seedCampaign(PERSIST, {
    id: CAMPAIGN,
    name: 'Edge benchmark',
    brief: 'Tiny synthetic experiments for npm run bench:edge.',
    template: 'gpt-char',
    datasetId: CAMPAIGN,
    createdAt: Date.now(),
    specs: Array.from({ length: EXPERIMENTS }, (_, i) => benchSpec(i + 1, datasetSha256)),
    replicas: REPLICAS,
  });
  log(`  migrated and seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  // An empty assets directory: the API is all the benchmark needs, and dist/ may not be built.
  const assets = join(PERSIST, 'assets');
  mkdirSync(assets, { recursive: true });
  t = performance.now();
  let entry = values.entry ? resolve(values.entry) : undefined;
  if (values.profile) {
    const dir = join(PERSIST, 'profile');
    mkdirSync(dir, { recursive: true });
    const rel = (to: string) => relative(dir, to).replace(/^(?!\.)/, './');
    const wrapper = join(dir, 'worker.js');
    writeFileSync(wrapper, profileWorker(rel(entry ?? join(ROOT, 'edge', 'src', 'index.ts')), rel(join(ROOT, 'shared', 'crypto.ts'))));
    entry = wrapper;
  }
  // A frozen bundle: other people's edits to edge/ or shared/ must not reload the edge mid-run.
  const bundle = await bundleWorker(join(PERSIST, 'bundle'), assets, entry);
  log(`  bundled ${relative(ROOT, entry ?? join(ROOT, 'edge', 'src', 'index.ts'))}: sha256 ${(await sha256(new Uint8Array(readFileSync(bundle)))).slice(0, 12)}`);
  // wrangler dev records a trace of every request and subrequest into a local SQLite store
  // (X_LOCAL_OBSERVABILITY, on by default, dev only): off here unless --dev-tracing, so the figures
  // are the Worker's and D1's rather than the dev tool's.
  edge = startDev(port, PERSIST, {
    extra: [bundle, '--no-bundle', '--config', join(ROOT, 'wrangler.toml'), '--assets', assets],
    output: 'stderr',
    env: { X_LOCAL_OBSERVABILITY: values['dev-tracing'] ? 'true' : 'false' },
  });
  await waitForHealth(base.origin, edge);
  log(`  edge healthy at ${base.origin} in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  agent = new http.Agent({ keepAlive: true, maxSockets: VOLUNTEERS });
  const identities: Identity[][] = [];
  t = performance.now();
  for (let v = 0; v < VOLUNTEERS; v++) {
    identities.push(await Promise.all(Array.from({ length: KEYS }, () => newIdentity())));
  }
  log(`  registered ${VOLUNTEERS * KEYS} keys in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const cpuBefore = processCpu(edge.pid);
  const machineBefore = machineCpu();
  const selfBefore = process.cpuUsage();
  const start = performance.now();
  const end = Date.now() + SECONDS * 1000;
  let last = { t: start, rt: 0 };
  const ticker = setInterval(() => {
    const now = performance.now();
    const lat = [...stats.leaseMs.slice(-2000), ...stats.resultMs.slice(-2000)].sort((a, b) => a - b);
    log(`  ${((now - start) / 1000).toFixed(0).padStart(3)} s  ${((stats.roundTrips - last.rt) / ((now - last.t) / 1000)).toFixed(0).padStart(5)} round trips/s` +
      `  total ${stats.roundTrips}  p50 ${percentile(lat, 50).toFixed(1)} ms  p99 ${percentile(lat, 99).toFixed(1)} ms  errors ${stats.errors}` +
      (stats.noLease ? `  no-lease ${stats.noLease}` : ''));
    last = { t: now, rt: stats.roundTrips };
  }, 1000);
  await Promise.all(identities.map((ids) => volunteerLoop(ids, end)));
  const elapsed = (performance.now() - start) / 1000;
  const cpu = cpuDelta(cpuBefore, processCpu(edge.pid));
  const self = process.cpuUsage(selfBefore);
  cpu.set('node (this benchmark: signing, HTTP client)', (self.user + self.system) / 1000);
  const machineAfter = machineCpu();
  const machineBusy = machineAfter.busy - machineBefore.busy;
  const ours = [...cpu.values()].reduce((a, b) => a + b, 0);
  clearInterval(ticker);
  if (values.profile) await profileReport(stats.roundTrips);
  agent.destroy();

  await stopEdge();
  const d1 = await checkD1(Date.now());
  const all = [...stats.leaseMs, ...stats.resultMs].sort((a, b) => a - b);
  const leaseSorted = [...stats.leaseMs].sort((a, b) => a - b);
  const resultSorted = [...stats.resultMs].sort((a, b) => a - b);
  const clientOverfull = [...leasesPerExperiment.values()].filter((s) => s.size > REPLICAS).length;

  log(`\n  ${elapsed.toFixed(1)} s measured: ${stats.roundTrips} round trips, ${stats.leases} leases, ${stats.results} results`);
  log(`  latency lease  p50 ${percentile(leaseSorted, 50).toFixed(1)} ms  p99 ${percentile(leaseSorted, 99).toFixed(1)} ms` +
    `   result p50 ${percentile(resultSorted, 50).toFixed(1)} ms  p99 ${percentile(resultSorted, 99).toFixed(1)} ms`);
  if (stats.roundTrips) {
    log(`  CPU during the run (ms per round trip, % of one core):` + [...cpu].sort((a, b) => b[1] - a[1])
      .map(([name, ms]) => `\n    ${(ms / stats.roundTrips).toFixed(2).padStart(6)} ms  ${((ms / 10 / elapsed)).toFixed(0).padStart(3)} %  ${name}`).join(''));
    log(`    machine: ${cpus().length} cores, ${(machineBusy / 10 / elapsed).toFixed(0)} % of one core busy in all, ` +
      `of which ${(Math.max(0, machineBusy - ours) / 10 / elapsed).toFixed(0)} % other processes`);
  }
  log(`  errors ${stats.errors} (429s ${stats.throttled})${[...stats.errorSamples].map(([k, n]) => `\n    ${n} × ${k}`).join('')}`);
  if (stats.noLease) log(`  ${stats.noLease} lease requests got no work: seed more --experiments`);
  if (stats.pacedMs) log(`  paced ${(stats.pacedMs / 1000).toFixed(1)} volunteer-seconds waiting for rate-limit budget: use more --keys`);
  log(`  D1: ${d1.summary.leases} leases, ${d1.summary.results} results; experiments ${d1.summary.verified} verified, ` +
    `${d1.summary.open} open, ${d1.summary.disputed} disputed`);
  log(`  overfull experiments ${d1.overfull.length} (client saw ${clientOverfull}), volunteer twice on one experiment ${d1.twice.length}, ` +
    `experiments with more results than replicas ${d1.overResults.length}, lost results ${d1.lost}` +
    (d1.unacknowledged ? `, results stored although the client got an error ${d1.unacknowledged}` : ''));

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
  };
  if (values.json) process.stdout.write(JSON.stringify(report) + '\n');
  else log(`\n${JSON.stringify(report, null, 2)}`);
}

try {
  await main();
} catch (err) {
  log(`bench:edge failed: ${(err as Error).stack ?? err}`);
  await stopEdge();
  process.exit(1);
}
