// Simulated volunteers for the edge's load tests: real Ed25519 identities registered as a browser
// registers them, requests signed exactly as the browser signs them, synthetic but valid metrics,
// keys rotated within the per-volunteer rate limit, and the volunteer loop (lease → train → result)
// with what it saw counted. Shared by `npm run bench:edge` (closed loop, no training time) and
// `npm run bench:soak` (think time, one heartbeat, retries as the browser's outbox would).
import http from 'node:http';
import { fromAddress } from './local-edge.ts';
import { sha256 } from '../../shared/crypto.ts';
import { commitSteps } from '../../shared/commit.ts';
import {
  type HeartbeatResponse,
  type Lease,
  type LeaseResponse,
  type Metrics,
  type ResultResponse,
} from '../../shared/protocol.ts';
import { curveLength, tokenBudget } from '../../shared/spec.ts';
import {
  newVolunteer,
  parseBody,
  type VolunteerClient,
  type WireRequest,
  type WireResponse,
} from '../../shared/volunteer-client.ts';

/** VOLUNTEER_LIMITER in wrangler.toml: 200 requests per 10 s window, windows aligned to the clock. */
export const LIMIT_WINDOW_MS = 10_000;
const LIMIT_BUDGET = 190; // a margin of 10 for requests that cross a window boundary in flight
const MAX_THROTTLED_RETRIES = 6; // a minute of 429s in a row

export interface Reply<T> {
  status: number;
  body: T;
  ms: number;
}

/** A reply over node:http: its body read (JSON, or the text when not JSON) and timed. */
interface TimedResponse extends WireResponse {
  body: unknown;
  ms: number;
}

export interface Identity {
  volunteerId: string;
  publicKey: string;
  client: VolunteerClient<TimedResponse>;
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

/**
 * Synthetic but valid metrics, as honest browsers would report them: every replica of one
 * experiment agrees within shared/verify.ts's tolerances, bit-identical on the same backend and a
 * little apart across backends (which round differently: the edge takes bit-identical results from
 * two backend classes for a copy); checkpoint commitments (one per shared/commit.ts commit step).
 */
export async function metricsFor(lease: Lease, id: Identity): Promise<Metrics> {
  const spec = lease.spec;
  const drift = id.backend === 'webgpu' ? 1e-4 : 0; // far below TAU_BPB and TAU_CURVE
  const valBpb = 2.5 + (spec.seed % 1000) / 1000 + drift;
  const commitments = await Promise.all(
    commitSteps(spec.train).map((step) => sha256(`${lease.leaseId}:${step}`)),
  );
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

export interface FleetStats {
  leases: number;
  results: number;
  roundTrips: number;
  heartbeats: number;
  requests: Map<string, number>; // by route: lease, heartbeat, result (retries included)
  errors: number;
  throttled: number; // 429s: errors in a closed loop, expected and retried when `retryThrottled`
  retries: number; // requests resent after a 429, a 5xx or a network failure
  noLease: number; // 200 { lease: null }: the campaign ran dry or a key held too many open leases
  pacedMs: number;
  leaseMs: number[];
  heartbeatMs: number[];
  resultMs: number[];
  errorSamples: Map<string, number>; // "route status code" (or "route network message") → count
}

export interface LoopOptions {
  campaignId: string;
  end: number; // ms since epoch: no round trip starts after it; those in flight finish
  /** Requests one round trip spends from a key's rate-limit window. */
  cost: number;
  /** "Training" time between the lease and the result, ms (omitted: none, a closed loop). */
  think?: () => number;
  /** One heartbeat halfway through the training time. */
  heartbeat?: boolean;
  /** A 429 waits for the limiter's next window and is resent, as the browser does, instead of counting as an error. */
  retryThrottled?: boolean;
  /** Attempts at a result after a 5xx or a network failure (the browser's outbox keeps trying). */
  resultAttempts?: number;
  /** How long to wait after `{ lease: null }`. */
  noLeaseWaitMs: (retryAfterSec: number) => number;
  stopped: () => boolean;
}

/** A transport's reply as a typed one. */
const reply = <T>({ status, body, ms }: TimedResponse): Reply<T> => ({
  status,
  body: body as T,
  ms,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errorCode = (body: unknown) => (body as { error?: string } | null)?.error ?? '';

/** A fleet of simulated volunteers against one edge, over keep-alive sockets (at most `maxSockets`). */
export class Fleet {
  readonly stats: FleetStats = {
    leases: 0,
    results: 0,
    roundTrips: 0,
    heartbeats: 0,
    requests: new Map(),
    errors: 0,
    throttled: 0,
    retries: 0,
    noLease: 0,
    pacedMs: 0,
    leaseMs: [],
    heartbeatMs: [],
    resultMs: [],
    errorSamples: new Map(),
  };
  readonly okResults = new Map<string, string>(); // resultId → leaseId, for every 2xx result
  readonly leasesPerExperiment = new Map<string, Set<string>>(); // client's view: experiment → volunteers
  readonly agent: http.Agent;
  readonly #base: URL;
  #identities = 0;

  constructor(base: URL, maxSockets: number) {
    this.#base = base;
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** The simulated volunteers' transport: one request over the keep-alive agent, timed. */
  #request = (path: string, init: WireRequest): Promise<TimedResponse> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(
        {
          agent: this.agent,
          host: this.#base.hostname,
          port: this.#base.port,
          path,
          method: init.method,
          headers: { ...init.headers, 'content-length': Buffer.byteLength(init.body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks).toString();
            resolve({
              status: res.statusCode ?? 0,
              body: parseBody(raw),
              ms: performance.now() - t0,
              text: async () => raw,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(init.body);
    });

  get(path: string): Promise<{ status: number; text: string; ms: number }> {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      http
        .get(
          { agent: this.agent, host: this.#base.hostname, port: this.#base.port, path },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - t0 }),
            );
            res.on('error', reject);
          },
        )
        .on('error', reject);
    });
  }

  /** A new key, registered (POST /api/volunteers) with its own address; half WebGPU, half WASM. */
  async register(): Promise<Identity> {
    const n = ++this.#identities;
    const ip = addressOf(n);
    // The key is named in every request and the address sent with it, as the browser behind
    // Cloudflare would (web/src/lib/api.ts's postSigned).
    const client = await newVolunteer(this.#request, { headers: fromAddress(ip), namesKey: true });
    // A mixed fleet, half WebGPU and half WASM, so replicas meet another backend class as the
    // scheduler prefers (a same-class replica waits for STEER_WAIT_MS).
    const backend = n % 2 ? 'webgpu' : 'wasm';
    const adapter = backend === 'webgpu' ? 'bench (simulated GPU)' : 'bench (simulated CPU)';
    const { id: volunteerId, publicKey } = client;
    return { volunteerId, publicKey, client, ip, backend, adapter, window: 0, used: 0 };
  }

  /** A signed POST as the browser sends it (web/src/lib/api.ts's postSigned), over node:http. */
  async postSigned<T>(id: Identity, path: string, body: unknown): Promise<Reply<T>> {
    return reply<T>(await id.client.post(path, body));
  }

  #error(what: string): void {
    this.stats.errors++;
    this.stats.errorSamples.set(what, (this.stats.errorSamples.get(what) ?? 0) + 1);
  }

  /**
   * One signed request of `route`, freshly signed on every attempt (the replay guard accepts a
   * signature once). 429: an error, or with `retryThrottled` a wait for the next limiter window and
   * another try. A 5xx or a network failure is an error, retried while attempts remain. Returns the
   * reply, or null when every attempt failed.
   */
  async #send<T>(
    route: string,
    request: () => Promise<TimedResponse>,
    o: LoopOptions,
    attempts: number,
    latencies: number[],
  ): Promise<Reply<T> | null> {
    let failed = 0;
    let throttled = 0;
    for (let first = true; ; first = false) {
      if (!first) this.stats.retries++;
      this.stats.requests.set(route, (this.stats.requests.get(route) ?? 0) + 1);
      let res: Reply<T>;
      try {
        res = reply<T>(await request());
      } catch (err) {
        this.#error(`${route} network ${(err as Error).message}`);
        if (++failed >= attempts || o.stopped()) return null;
        await sleep(1000 * failed);
        continue;
      }
      latencies.push(res.ms);
      if (res.status >= 200 && res.status < 300) return res;
      if (res.status === 429) {
        this.stats.throttled++;
        // Expected, and waited out like a browser would; a limiter that never lets go is an error.
        if (o.retryThrottled && ++throttled <= MAX_THROTTLED_RETRIES && !o.stopped()) {
          await sleep(LIMIT_WINDOW_MS - (Date.now() % LIMIT_WINDOW_MS) + Math.random() * 1000);
          continue;
        }
      }
      this.#error(`${route} ${res.status} ${errorCode(res.body)}`);
      if (res.status < 500 || ++failed >= attempts || o.stopped()) return null;
      await sleep(1000 * failed);
    }
  }

  /**
   * The simulated volunteer's next identity: its keys in turn (so the load spreads over all of them,
   * half WebGPU, half WASM), skipping keys whose rate-limit window is spent; when all are, it waits
   * for the next window.
   */
  async #pickIdentity(ids: Identity[], turn: number, o: LoopOptions): Promise<Identity | null> {
    for (;;) {
      const now = Date.now();
      const window = Math.floor(now / LIMIT_WINDOW_MS);
      for (let k = 0; k < ids.length; k++) {
        const id = ids[(turn + k) % ids.length]!;
        if (id.window !== window) {
          id.window = window;
          id.used = 0;
        }
        if (id.used + o.cost <= LIMIT_BUDGET) {
          id.used += o.cost;
          return id;
        }
      }
      const wait = (window + 1) * LIMIT_WINDOW_MS - now + 5;
      if (now + wait >= o.end) return null;
      this.stats.pacedMs += wait;
      await sleep(wait);
    }
  }

  /** One simulated volunteer: round trips with its identities `ids` until `o.end`. */
  async volunteer(ids: Identity[], o: LoopOptions): Promise<void> {
    const s = this.stats;
    for (let turn = 0; Date.now() < o.end && !o.stopped(); turn++) {
      const id = await this.#pickIdentity(ids, turn, o);
      if (!id) return;
      const leased = await this.#send<LeaseResponse>(
        'lease',
        () =>
          id.client.lease(
            { backend: id.backend, adapter: id.adapter, tokensPerSec: 5000 },
            { campaignId: o.campaignId },
          ),
        o,
        1,
        s.leaseMs,
      );
      if (!leased) continue;
      if (!leased.body.lease) {
        s.noLease++;
        await sleep(o.noLeaseWaitMs(leased.body.retryAfterSec));
        continue;
      }
      const lease = leased.body.lease;
      s.leases++;
      const holders = this.leasesPerExperiment.get(lease.experimentId) ?? new Set();
      holders.add(id.volunteerId);
      this.leasesPerExperiment.set(lease.experimentId, holders);

      const think = o.think?.() ?? 0;
      if (o.heartbeat) {
        await sleep(think / 2);
        const beat = await this.#send<HeartbeatResponse>(
          'heartbeat',
          () => id.client.heartbeat(lease, Math.floor(lease.spec.train.steps / 2), 3),
          o,
          1,
          s.heartbeatMs,
        );
        if (beat) s.heartbeats++;
        await sleep(think / 2);
      } else if (think) {
        await sleep(think);
      }

      const metrics = await metricsFor(lease, id);
      const res = await this.#send<ResultResponse>(
        'result',
        () => id.client.submit(lease, metrics),
        o,
        o.resultAttempts ?? 1,
        s.resultMs,
      );
      if (!res) continue;
      this.okResults.set(res.body.resultId, lease.leaseId);
      s.results++;
      s.roundTrips++;
    }
  }
}
