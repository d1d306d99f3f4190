// `npm run bench:trust`: the trust rules against a fleet of honest and dishonest volunteers, on a
// real local edge (workerd + local D1, started like `npm start` does, on a fresh state dir).
//
// Nobody trains here: metrics are synthetic, and every request is what a browser sends (signed
// registration, signed lease and result requests from distinct simulated addresses). The model is
// built on `npm run calibrate` as run on 2026-11-27 (headless Chromium, TF.js 4.22, demo and tiny
// presets, pairs of runs): same spec on another backend |Δ val_bpb| ≤ 7.4e-6, max |Δ curve| ≤ 3.5e-6 nats;
// another seed 0.0049–0.038 / 0.022–0.11; another batch order 0.0017–0.021 / 0.019–0.10; other
// initial weights 0.0028–0.049 / 0.0069–0.087. Per experiment:
//   - a true val_bpb = f(config) + a seed term (σ 0.02 bpb, from the seed gaps), and a true loss
//     curve whose segment means carry this seed's batch noise (σ 0.024 nats, from the curve gaps);
//   - an honest result of backend class c = the truth + offsets fixed per (experiment, class):
//     bit-identical within a class, uniform within --spread (1e-5 bpb pairwise, above the measured
//     7.4e-6) on val_bpb and 5e-6 nats on each segment across classes; float16 classes get twice
//     that (not measured).
// Attacks (each volunteer runs one, from its first result unless said otherwise; dishonest
// volunteers claim the same mix of backends as honest ones, float16 included):
//   fabricated       plausible metrics: a verified experiment's values, as a leaderboard shows them
//   surrogate        the best a fabricator without the run can do: the exact config model, the
//                    shape of the curve, everything but this seed's own terms
//   copy             a pair: an accomplice computes honestly, the copier submits the accomplice's
//                    metrics exactly when the scheduler puts both on one experiment (and a
//                    fabrication otherwise); only the copier's results count as dishonest
//   copy-perturbed   the same, nudged within the honest spread so it looks like another backend
//   fewer-steps      trains 50–90 % of the steps honestly, reports the shorter run's final
//                    metrics and extrapolates the rest of the curve flat
//   seed             trains honestly with another seed, batch order or initialisation: gaps drawn
//                    log-uniformly within each measured range
//   replay           resubmits the metrics of its first (honest) result on every later lease
//   replay-request   re-sends a previously accepted signed result request byte for byte
//   wrong-key        signs its results with a key that is not its registered one
//   sybil            three keys from one address submitting one fabrication
//   colluders        three keys from three addresses submitting one fabrication, hoping to meet
//   on-off           honest until it is trusted (CV ≥ 10 in its class), fabricated afterwards
//   partial          honest until it is trusted, then trains the first third honestly and
//                    fabricates the rest: the seed's segment checks out, a later one does not
//   free-rider       reads everything public about its leased experiment (the experiment's page,
//                    the leaderboard, the corpus) and submits any replica's metrics it finds,
//                    nudged; a fabrication when it finds none
//   hoarder          eight keys on one address claiming a near-zero speed, leasing all they can,
//                    heartbeating and never submitting (JSON adds held leases and deadlines)
//   spot-collusion   a pair: the target is honest until trusted, then fabricates; its partner
//                    trains honestly, declares spot checks, and passes any spot check of the
//                    target's results with the target's own curve
//   chosen-address   three keys on one address, each sending an address of its choice in
//                    CF-Connecting-IP (the front overwrites it, as Cloudflare does), one fabrication
//   linked-key       links a second key to itself, registers that key as a new volunteer on another
//                    address, and the two submit one fabrication
// What synthetic metrics cannot model: how real backends, GPUs and drivers differ beyond the
// measured spread (a buggy kernel is a different class of failure), how well a real surrogate
// model would predict a seed's outcome, and the compute an attacker saves — only whether the edge
// accepts what it is sent.
//
// Two phases: --rounds with everyone from a cold start (detection, false disputes), then
// --trusted-rounds with the honest fleet alone, trusted by then (executions per verified result).
//
//   npm run bench:trust -- [--honest 48] [--per-attack 2] [--rounds 40] [--trusted-rounds 30] [--experiments 2400]
//                          [--spread 1e-5] [--seed 7] [--port 8802] [--json]
// The last stdout line with --json is one JSON object:
//   {volunteers, experiments, attacks: {<name>: {tried, verified, credited, ...}}, detectionRate,
//    falseDisputeRate, executionsPerVerified, ...}. Progress goes to stderr.
import type { ChildProcess } from 'node:child_process';
import { rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { backendClass } from '../shared/backend-class.ts';
import {
  checkpointCommitment,
  commitSteps,
  decodeCheckpoint,
  encodeCheckpoint,
} from '../shared/commit.ts';
import { generateSigningKey } from '../shared/crypto.ts';
import {
  LEASE_TOKEN_HEADER,
  type ExperimentDetail,
  type Backend,
  type Browser,
  type Capabilities,
  type Lease,
  type Metrics,
  type Precision,
  resultFor,
  type ResultResponse,
  type VolunteerTrust,
} from '../shared/protocol.ts';
import { Rng } from '../shared/rng.ts';
import { curveLength, type ExperimentSpec } from '../shared/spec.ts';
import { TAU_BPB, TAU_CURVE } from '../shared/verify.ts';
import {
  newVolunteer,
  parseBody,
  register as registerKey,
  type Transport,
  type VolunteerClient,
  type WireRequest,
  type WireResponse,
} from '../shared/volunteer-client.ts';
import { CV_TRUSTED } from '../edge/src/trust/policy.ts';
import { startBenchEdge } from './lib/fleet-edge.ts';
import { fromAddress, migrate, registerDataset, seedCampaign } from './lib/local-edge.ts';
import {
  BATCH_SIGMA_NATS,
  GAPS,
  logUniform,
  metricsFrom,
  SEED_SIGMA_BPB,
  stateAt,
  SyntheticTruth,
  VOCAB,
} from './lib/trust-model.ts';
import { edgeDecisions, type HonestResult, type Tally } from './lib/trust-verdicts.ts';
import { ROOT } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    honest: { type: 'string', default: '48' },
    'per-attack': { type: 'string', default: '2' },
    rounds: { type: 'string', default: '40' }, // with the attackers, from a cold start
    // then the honest fleet alone, trusted: it first replicates what the attackers' fabrications left
    // waiting (replica slots go to the highest tier, so they pile up under a fleet half dishonest;
    // ~13 rounds here), then opens fresh work, whose executions per verified result are measured
    'trusted-rounds': { type: 'string', default: '30' },
    experiments: { type: 'string', default: '2400' },
    spread: { type: 'string', default: '1e-5' }, // bpb: the largest honest cross-backend gap in val_bpb (measured 7.4e-6)
    seed: { type: 'string', default: '7' },
    port: { type: 'string', default: '8802' },
    concurrency: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
  },
});
const num = (k: keyof typeof values) => Number(values[k]);
const HONEST = num('honest');
const PER_ATTACK = num('per-attack');
const ROUNDS = num('rounds');
const TRUSTED_ROUNDS = num('trusted-rounds');
const EXPERIMENTS = num('experiments');
const SPREAD_BPB = num('spread');
const CURVE_SPREAD_NATS = SPREAD_BPB / 2; // measured 3.5e-6 against 7.4e-6
const CONCURRENCY = num('concurrency');
const PERSIST = join(ROOT, '.wrangler', 'bench-trust');
const CAMPAIGN = 'trust';
const DATASET_SHA = 'b'.repeat(64);
const log = (line: string) => process.stderr.write(line + '\n');
const rng = Rng.derive(num('seed'), 'bench-trust');

const world = new SyntheticTruth({
  seed: num('seed'),
  spreadBpb: SPREAD_BPB,
  campaign: CAMPAIGN,
  datasetSha256: DATASET_SHA,
});
const truth = (i: number) => world.truth(i);
const indexOf = (experimentId: string) => world.indexOf(experimentId);

// ——— Volunteers ———

type Attack =
  | 'fabricated'
  | 'surrogate'
  | 'copy'
  | 'copy-perturbed'
  | 'fewer-steps'
  | 'seed'
  | 'replay'
  | 'replay-request'
  | 'wrong-key'
  | 'sybil'
  | 'colluders'
  | 'on-off'
  | 'partial'
  | 'free-rider'
  | 'hoarder'
  | 'spot-collusion'
  | 'chosen-address'
  | 'linked-key';
const ATTACKS: Attack[] = [
  'fabricated',
  'surrogate',
  'copy',
  'copy-perturbed',
  'fewer-steps',
  'seed',
  'replay',
  'replay-request',
  'wrong-key',
  'sybil',
  'colluders',
  'on-off',
  'partial',
  'free-rider',
  'hoarder',
  'spot-collusion',
  'chosen-address',
  'linked-key',
];
/** Attackers that are honest until trusted. */
const LATE_CHEATS: Attack[] = ['on-off', 'partial', 'spot-collusion'];
/** Keys of one hoarder, on one address. */
const HOARDER_KEYS = 8;

interface Volunteer {
  n: number;
  id: string;
  client: VolunteerClient<Reply>;
  ip: string;
  caps: Capabilities;
  precision: Precision;
  attack: Attack | null;
  group: number; // sybil / colluder group
  accomplice: Volunteer | null; // a copier's (or a spot-check colluder's) partner, who computes honestly
  helper: boolean; // such a partner: its own results are honest work, never tallied
  held: Lease[]; // a hoarder's leases
  chosenIp: string | null; // chosen-address: what it claims in CF-Connecting-IP
  lease: Lease | null;
  waited: number; // rounds a copier has waited for something to copy
  first: Metrics | null; // the replayer's first, honest result
  lastRequest: { path: string; init: WireRequest } | null; // as sent, for a byte-for-byte replay
  cheating: boolean; // on-off: switched
}

let base = '';
let edge: ChildProcess | null = null;

/** A reply, its body read (JSON, or the text when not JSON). */
interface Reply extends WireResponse {
  body: unknown;
}

async function post(path: string, init: WireRequest): Promise<Reply> {
  const res = await fetch(base + path, init);
  const raw = await res.text();
  return { status: res.status, body: parseBody(raw), text: async () => raw };
}

/**
 * How a volunteer reaches the edge: through the local front from its address (`ip` until `self`
 * exists), timed by path, its last accepted result request kept for the replay attack.
 */
function reach(ip: string, self: { v: Volunteer | null }): Transport<Reply> {
  return async (path, signed) => {
    const v = self.v;
    const init = {
      ...signed,
      headers: {
        ...signed.headers,
        ...(v?.chosenIp && { 'cf-connecting-ip': v.chosenIp }), // the front overwrites it below, as Cloudflare does
        ...fromAddress(v?.ip ?? ip),
      },
    };
    if (!v) return post(path, init);
    const t = performance.now();
    const res = await post(path, init);
    if (path === '/api/results' && res.status < 300) v.lastRequest = { path, init }; // an accepted request
    (latencies.get(path) ?? latencies.set(path, []).get(path)!).push(performance.now() - t);
    return res;
  };
}
const latencies = new Map<string, number[]>();
function p50(xs: number[] | undefined): number | null {
  if (!xs?.length) return null;
  return Math.round([...xs].sort((a, b) => a - b)[xs.length >> 1]!);
}

/** Addresses from 198.18.0.0/15 (RFC 2544, benchmarking), one per volunteer unless shared. */
const address = (n: number) => `198.${18 + ((n >> 16) & 1)}.${(n >> 8) & 255}.${n & 255}`;

async function register(
  n: number,
  ip: string,
  caps: Capabilities,
  attack: Attack | null,
  group = 0,
): Promise<Volunteer> {
  const self: { v: Volunteer | null } = { v: null };
  const client = await newVolunteer(reach(ip, self));
  self.v = {
    n,
    id: client.id,
    client,
    ip,
    caps,
    precision: caps.precision ?? 'float32',
    attack,
    group,
    accomplice: null,
    helper: false,
    held: [],
    chosenIp: null,
    // on-off cheats once trusted; the replayers once they have an accepted result to replay
    lease: null,
    waited: 0,
    first: null,
    lastRequest: null,
    cheating: attack !== null && ![...LATE_CHEATS, 'replay', 'replay-request'].includes(attack),
  };
  return self.v;
}

/** An honest fleet's mix of backends and browsers (float16: WebGL without float32 targets). */
function honestCaps(i: number): Capabilities {
  const mix: [Backend, Precision, Browser][] = [
    ['webgpu', 'float32', 'chromium'],
    ['wasm', 'float32', 'chromium'],
    ['wasm', 'float32', 'firefox'],
    ['webgpu', 'float32', 'chromium'],
    ['wasm', 'float32', 'safari'],
    ['cpu', 'float32', 'firefox'],
    ['webgl', 'float32', 'chromium'],
    ['webgpu', 'float32', 'safari'],
    ['wasm', 'float32', 'chromium'],
    ['webgl', 'float16', 'safari'],
  ];
  const [backend, precision, browser] = mix[i % mix.length]!;
  return { backend, precision, browser, tokensPerSec: 3000, spotChecks: true };
}

// ——— What each volunteer submits ———

const tallies = new Map<Attack, Tally>(
  ATTACKS.map((a) => [
    a,
    { tried: 0, refused: 0, resultIds: [], float16: new Set(), at: new Map() },
  ]),
);
const honestResults = new Map<string, HonestResult>();
const accompliceResults = new Map<string, Metrics>(); // `${accomplice id}:${experiment}` → what it submitted
const groupFabrications = new Map<string, Metrics>();

function fabricate(spec: ExperimentSpec, v: Volunteer, from: number): Metrics {
  const t = truth(from);
  return metricsFrom(spec, v.caps.backend, v.precision, t.valBpb, t.curve);
}

/** Moves metrics by as much as another honest backend would. */
function nudge(m: Metrics, r: Rng): Metrics {
  const d = SPREAD_BPB * (r.next() - 0.5);
  return {
    ...m,
    valBpb: m.valBpb + d,
    valLoss: (m.valBpb + d) * Math.LN2,
    curve: m.curve.map((c) => c + CURVE_SPREAD_NATS * (r.next() - 0.5)),
  };
}

/** The segments a partial cheater trains honestly: the first third. */
const partialSegments = (spec: ExperimentSpec) => Math.ceil(curveLength(spec.train) / 3);

// ——— Commitments and reveals (shared/commit.ts, edge/src/trust/spot-checks.ts) ———

/** Up to which step a volunteer's states come from training, for the result it submits now. */
function trainedUntil(v: Volunteer, spec: ExperimentSpec): number {
  if (!v.cheating) return spec.train.steps;
  return v.attack === 'partial' ? partialSegments(spec) * spec.train.curveEvery : 0;
}

/** What a free-rider finds to copy on every public page about an experiment (null: nothing). */
async function publishedMetrics(experimentId: string): Promise<Metrics | null> {
  const detail = (await (await fetch(`${base}/api/experiments/${experimentId}`)).json()) as {
    experiment?: ExperimentDetail;
  };
  const seen = detail.experiment?.replicas.find((r) => r.metrics)?.metrics;
  freeRiderReads++;
  if (seen) return seen;
  // The leaderboard and the corpus list verified experiments only; a hit there is a copy too.
  const board = await (await fetch(`${base}/api/campaigns/${CAMPAIGN}/leaderboard`)).text();
  const corpus = await (await fetch(`${base}/api/corpus?campaign=${CAMPAIGN}&limit=500`)).text();
  freeRiderReads += 2;
  if (board.includes(`"${experimentId}"`) || corpus.includes(`"${experimentId}"`))
    freeRiderFoundVerified++;
  return null;
}
let freeRiderReads = 0;
let freeRiderFound = 0; // pending metrics a free-rider read and copied
let freeRiderFoundVerified = 0; // its experiment already verified (published) while it held the lease

/** The metrics volunteer v submits for its lease, or null to hold the lease a round (copiers). */
async function metricsFor(v: Volunteer, lease: Lease): Promise<Metrics | null> {
  const i = indexOf(lease.experimentId);
  const spec = lease.spec;
  const own = world.honest(i, spec, v.caps.backend, v.precision);
  if (!v.cheating) return own;
  const r = Rng.derive(num('seed'), `attack:${v.id}:${i}`);
  const t = truth(i);
  switch (v.attack!) {
    case 'fabricated':
    case 'on-off':
      return fabricate(spec, v, (i + 1 + r.int(EXPERIMENTS - 1)) % EXPERIMENTS);
    case 'partial': {
      const fake = fabricate(spec, v, (i + 1 + r.int(EXPERIMENTS - 1)) % EXPERIMENTS);
      const kept = partialSegments(spec);
      return { ...fake, curve: [...own.curve.slice(0, kept), ...fake.curve.slice(kept)] };
    }
    case 'surrogate':
      return metricsFrom(spec, v.caps.backend, v.precision, t.config, t.surrogateCurve);
    case 'copy':
    case 'copy-perturbed': {
      const partner = v.accomplice!;
      const src = accompliceResults.get(`${partner.id}:${lease.experimentId}`);
      if (!src && partner.lease?.experimentId === lease.experimentId) return null; // wait for the partner's result
      if (!src) return fabricate(spec, v, (i + 1 + r.int(EXPERIMENTS - 1)) % EXPERIMENTS);
      const copy = { ...src, backend: v.caps.backend };
      return v.attack === 'copy' ? copy : nudge(copy, r);
    }
    case 'fewer-steps': {
      const f = 0.5 + 0.4 * r.next();
      const done = Math.floor(f * curveLength(spec.train));
      const gap = 0.6 * (1 - f); // bpb still to gain in the steps not trained
      const curve = own.curve.map((c, k) => (k < done ? c : own.curve[Math.max(0, done - 1)]!));
      return { ...own, valBpb: own.valBpb + gap, valLoss: (own.valBpb + gap) * Math.LN2, curve };
    }
    case 'seed': {
      const gaps = [GAPS.seed, GAPS.order, GAPS.init][r.int(3)]!;
      const shift = logUniform(r, gaps.bpb) * (r.next() < 0.5 ? -1 : 1);
      // Segment gaps whose largest is about the drawn curve gap (the max of six |N(0, 1)| is ~2).
      const sigma = logUniform(r, gaps.curve) / 2;
      const curve = own.curve.map((c) => c + sigma * r.normal());
      return {
        ...own,
        valBpb: own.valBpb + shift,
        valLoss: (own.valBpb + shift) * Math.LN2,
        curve,
      };
    }
    case 'replay':
      return { ...(v.first ?? own), backend: v.caps.backend };
    case 'sybil':
    case 'chosen-address':
    case 'linked-key':
    case 'colluders': {
      const key = `${v.attack}:${v.group}:${lease.experimentId}`;
      const from = (i + 1 + Rng.derive(num('seed'), key).int(EXPERIMENTS - 1)) % EXPERIMENTS;
      if (!groupFabrications.has(key)) groupFabrications.set(key, fabricate(spec, v, from));
      return v.attack === 'colluders' || v.attack === 'linked-key'
        ? nudge(groupFabrications.get(key)!, r)
        : groupFabrications.get(key)!;
    }
    case 'free-rider': {
      const seen = await publishedMetrics(lease.experimentId);
      if (seen) freeRiderFound++;
      return seen
        ? nudge({ ...seen, backend: v.caps.backend }, r)
        : fabricate(spec, v, (i + 1 + r.int(EXPERIMENTS - 1)) % EXPERIMENTS);
    }
    case 'spot-collusion': // the target, once trusted
      return fabricate(spec, v, (i + 1 + r.int(EXPERIMENTS - 1)) % EXPERIMENTS);
    default:
      return own; // replay-request and wrong-key cheat in how they send
  }
}

async function submit(v: Volunteer): Promise<void> {
  const lease = v.lease!;
  if (lease.kind === 'spot-check') {
    // Honest checkers retrain the segment from the seed or the revealed checkpoint: the truth there
    // to ~1e-6 when the state came from training, something else from a forged one.
    const i = indexOf(lease.experimentId);
    const { fromStep = 0, toStep, checkpointPath } = lease.spotCheck!;
    let trained = true;
    if (checkpointPath) {
      const res = await fetch(base + checkpointPath, {
        headers: { [LEASE_TOKEN_HEADER]: lease.leaseToken, ...fromAddress(v.ip) },
      });
      if (!res.ok) throw new Error(`checkpoint download failed: ${res.status} ${await res.text()}`);
      trained =
        (await decodeCheckpoint(new Uint8Array(await res.arrayBuffer()), null)).state
          .weights[0]![0] === 1;
      checkpointsFetched++;
    }
    const every = lease.spec.train.curveEvery;
    let curve = truth(i)
      .curve.slice(fromStep / every, Math.ceil(toStep / every))
      .map((c) => c + (trained ? 1e-6 : 0.05));
    // A colluding checker of its partner's result answers with the partner's own curve.
    const partnerCurve =
      v.helper && v.attack === 'spot-collusion'
        ? colluderCurves.get(lease.experimentId)
        : undefined;
    if (partnerCurve) {
      curve = partnerCurve.slice(fromStep / every, Math.ceil(toStep / every));
      collusiveSpotChecks++;
    }
    await v.client.spotCheck(lease, curve);
    spotChecksDone.set(
      lease.experimentId,
      (spotChecksDone.get(lease.experimentId) ?? 0) + (toStep - fromStep) / lease.spec.train.steps,
    );
    spotCheckCount++;
    v.lease = null;
    return;
  }
  const made = await metricsFor(v, lease);
  if (!made) return;
  const until = trainedUntil(v, lease.spec);
  const commitments = await Promise.all(
    commitSteps(lease.spec.train).map((step) =>
      checkpointCommitment(lease.specHash, stateAt(lease.spec, made, step, step <= until)),
    ),
  );
  const metrics = { ...made, commitments };
  const result = resultFor(lease, metrics);
  const cheat = v.cheating ? v.attack! : null;
  const signWith = cheat === 'wrong-key' ? (await generateSigningKey()).privateKey : undefined;
  if (cheat === 'replay-request' && v.lastRequest) {
    // Byte for byte: the same signature headers and body as an accepted request.
    const t = tallies.get(cheat)!;
    t.tried++;
    const again = await post(v.lastRequest.path, v.lastRequest.init);
    const body = again.body as { resultId?: string; duplicate?: boolean };
    if (again.status >= 300 || body.duplicate)
      t.refused++; // refused, or the first outcome again: nothing new
    else if (body.resultId) t.resultIds.push(body.resultId);
  }
  const res = await v.client.submitPayload(result, { signWith });
  const resultId = (res.body as { resultId?: string }).resultId;
  // A spot check asks for one committed checkpoint: everyone reveals (a cheater its forged state,
  // consistent with its commitment — not revealing fails the check anyway).
  const reveal = (res.body as ResultResponse).reveal;
  if (reveal) {
    const { bytes } = await encodeCheckpoint(
      lease.specHash,
      stateAt(lease.spec, metrics, reveal.step, reveal.step <= until),
    );
    const put = await v.client.reveal(reveal.path, bytes);
    if (put.status >= 300) throw new Error(`reveal refused: ${put.status} ${await put.text()}`);
    revealed++;
  }
  if (cheat && cheat !== 'replay-request') {
    const t = tallies.get(cheat)!;
    t.tried++;
    if (res.status >= 300) t.refused++;
    else if (resultId) {
      t.resultIds.push(resultId);
      t.at.set(resultId, Date.now());
      if (v.precision === 'float16') t.float16.add(resultId);
    }
  } else if (res.status < 300 && resultId) {
    honestResults.set(resultId, {
      experimentId: lease.experimentId,
      klass: backendClass(v.caps.backend, v.precision),
      metrics,
      precision: v.precision,
    });
    if (v.attack === 'replay' && !v.first) v.first = metrics;
  }
  if (res.status < 300 && !v.cheating && v.attack?.startsWith('copy'))
    accompliceResults.set(`${v.id}:${lease.experimentId}`, metrics);
  if (res.status < 300 && v.cheating && v.attack === 'spot-collusion')
    colluderCurves.set(lease.experimentId, metrics.curve); // shared with its partner
  if (!v.cheating && (v.attack === 'replay' || v.attack === 'replay-request') && res.status < 300) {
    v.first = metrics;
    v.cheating = true;
  }
  v.lease = null;
}
/** Hoarders lease all they can each round and heartbeat what they hold; they never submit. */
const hoarders: Volunteer[] = [];
const hoarding = { attempts: 0, granted: 0, maxHeld: 0, maxLeaseSeconds: 0, heartbeats: 0 };
async function hoard(round: number): Promise<void> {
  await pool(hoarders, async (v) => {
    hoarding.attempts++;
    const t = Date.now();
    const res = await v.client.lease(v.caps, { campaignId: CAMPAIGN });
    const lease = (res.body as { lease?: Lease | null }).lease ?? null;
    if (lease) {
      hoarding.granted++;
      v.held.push(lease);
      hoarding.maxLeaseSeconds = Math.max(
        hoarding.maxLeaseSeconds,
        Math.round((lease.deadline - t) / 1000),
      );
    }
    if (round % 5 === 0) {
      for (const l of v.held) {
        const beat = await v.client.heartbeat(l, round, 3);
        if (beat.status === 200) {
          hoarding.heartbeats++;
          l.deadline = (beat.body as { deadline: number }).deadline;
        }
      }
    }
  });
  // Held now: leases whose deadline (as granted or last extended) has not passed. Counted from the
  // answers, not by reading the edge's D1 while it runs (a second SQLite writer finds it busy).
  const now = Date.now();
  const held = hoarders.reduce((n, v) => n + v.held.filter((l) => l.deadline > now).length, 0);
  hoarding.maxHeld = Math.max(hoarding.maxHeld, held);
}
const linkedKeyRegistrations: number[] = []; // what registering a linked key as a new volunteer got

const colluderCurves = new Map<string, number[]>(); // a spot-check colluder's fabricated curves, by experiment
let collusiveSpotChecks = 0; // spot checks of its partner's results that a colluding checker got
/** Spot checks done, as the fraction of an experiment each one retrained, by experiment. */
const spotChecksDone = new Map<string, number>();
let spotCheckCount = 0;
let revealed = 0; // checkpoints revealed on request
let checkpointsFetched = 0; // …and trained from by a checker

async function pool<T>(items: T[], f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

// ——— Run ———

async function main() {
  rmSync(PERSIST, { recursive: true, force: true });
  mkdirSync(PERSIST, { recursive: true });
  log(`bench:trust: migrating and seeding ${EXPERIMENTS} experiments in ${PERSIST}`);
  await migrate(PERSIST);
  await registerDataset(PERSIST, {
    id: CAMPAIGN,
    manifestSha256: DATASET_SHA,
    vocabSize: VOCAB,
    name: 'synthetic',
  });
  await seedCampaign(PERSIST, {
    id: CAMPAIGN,
    name: 'Trust bench',
    brief: 'Synthetic metrics.',
    template: 'gpt-char',
    datasetId: CAMPAIGN,
    createdAt: Date.now(),
    specs: Array.from({ length: EXPERIMENTS }, (_, i) => world.specOf(i)),
  });
  const port = num('port');
  base = `http://127.0.0.1:${port}`;
  // A frozen bundle (as bench:edge serves): edits to edge/ or shared/ while it runs must not reload
  // the Worker under the fleet (wrangler dev restarts on a change and drops every connection).
  edge = await startBenchEdge({ persist: PERSIST, port, devTracing: false });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!edge || edge.exitCode !== null || edge.signalCode !== null) return resolve();
      edge.once('exit', () => resolve());
      edge.kill('SIGTERM');
    });
  process.on('exit', () => edge?.kill('SIGTERM'));

  let n = 0;
  const fleet: Volunteer[] = [];
  for (let i = 0; i < HONEST; i++) fleet.push(await register(++n, address(n), honestCaps(i), null));
  const dishonestCaps = (i: number): Capabilities => ({ ...honestCaps(i), spotChecks: false });
  for (const attack of ATTACKS) {
    for (let k = 0; k < PER_ATTACK; k++) {
      if (attack === 'copy' || attack === 'copy-perturbed') {
        const accomplice = await register(++n, address(n), dishonestCaps(fleet.length), attack);
        accomplice.cheating = false; // it computes; its results are honest work
        const copier = await register(++n, address(n), dishonestCaps(fleet.length + 1), attack);
        copier.accomplice = accomplice;
        fleet.push(accomplice, copier);
      } else if (attack === 'sybil' || attack === 'colluders' || attack === 'chosen-address') {
        const shared = address(++n);
        for (let j = 0; j < 3; j++) {
          const ip = attack === 'colluders' ? address(++n) : shared;
          const v = await register(n, ip, dishonestCaps(j + k), attack, k);
          if (attack === 'chosen-address') v.chosenIp = `203.0.113.${10 * k + j + 1}`; // its pick, one per key
          fleet.push(v);
        }
      } else if (attack === 'spot-collusion') {
        const target = await register(++n, address(n), dishonestCaps(fleet.length), attack);
        const partner = await register(
          ++n,
          address(n),
          { ...honestCaps(fleet.length + 1), spotChecks: true },
          attack,
        );
        partner.cheating = false;
        partner.helper = true; // trains honestly; answers its partner's spot checks with its curve
        target.accomplice = partner;
        fleet.push(target, partner);
      } else if (attack === 'hoarder') {
        const shared = address(++n);
        for (let j = 0; j < HOARDER_KEYS; j++) {
          const v = await register(
            n,
            shared,
            { ...dishonestCaps(j), tokensPerSec: 0.001 },
            attack,
            k,
          );
          v.helper = true; // never submits: what it holds is counted apart
          hoarders.push(v);
        }
      } else if (attack === 'linked-key') {
        // Volunteer F links a second key, then registers that key as a volunteer of its own elsewhere.
        const f = await register(++n, address(n), dishonestCaps(fleet.length), attack, k);
        const second = await generateSigningKey();
        const linked = await f.client.linkKey(second);
        if (linked.status !== 201)
          throw new Error(`linking failed: ${linked.status} ${JSON.stringify(linked.body)}`);
        const self: { v: Volunteer | null } = { v: null };
        const again = await registerKey(reach(address(++n), self), { keys: second });
        linkedKeyRegistrations.push(again.response.status);
        fleet.push(f);
        if (again.response.status === 201) {
          self.v = {
            ...f,
            n,
            id: again.client.id,
            client: again.client,
            ip: address(n),
            lease: null,
            held: [],
          };
          fleet.push(self.v);
        }
      } else {
        fleet.push(await register(++n, address(n), dishonestCaps(fleet.length), attack));
      }
    }
  }
  const honestFleet = fleet.filter((v) => v.attack === null);
  log(`bench:trust: ${fleet.length} volunteers (${honestFleet.length} honest) on ${base}`);

  let trustedAt: number | null = null;
  let idle = 0;
  const t0 = Date.now();
  let active = fleet;
  let trustedPhase: number | null = null; // when the attackers left
  for (let round = 1; round <= ROUNDS + TRUSTED_ROUNDS && idle < 3; round++) {
    if (round === ROUNDS + 1) {
      // Phase 2: the attackers leave; the honest fleet, trusted by now, carries on alone.
      active = honestFleet;
      trustedPhase = Date.now();
      log(`  round ${round}: the attackers leave`);
    }
    if (round <= ROUNDS) await hoard(round);
    const wanting = shuffle(active.filter((v) => !v.lease));
    let granted = 0;
    await pool(wanting, async (v) => {
      const res = await v.client.lease(v.caps, { campaignId: CAMPAIGN });
      const lease = (res.body as { lease?: Lease | null }).lease ?? null;
      if (lease) granted++;
      v.lease = lease;
    });
    idle = granted ? 0 : idle + 1;
    // Copiers go last, so that what they copy has arrived.
    const holding = active.filter((v) => v.lease);
    const copier = (v: Volunteer) => v.accomplice !== null;
    await pool(shuffle(holding.filter((v) => !copier(v))), submit);
    await pool(holding.filter(copier), submit);
    // Who is trusted now: the standing of every honest volunteer and every on-off volunteer.
    if ((round % 3 === 0 || trustedAt === null) && round <= ROUNDS) {
      let trusted = 0;
      await pool(
        [...honestFleet, ...fleet.filter((v) => LATE_CHEATS.includes(v.attack!) && !v.helper)],
        async (v) => {
          const res = await fetch(`${base}/api/volunteers/${v.id}`);
          const s = (await res.json()) as VolunteerTrust;
          const cv =
            s.classes.find((c) => c.backendClass === backendClass(v.caps.backend, v.precision))
              ?.consecutiveValid ?? 0;
          if (v.attack && LATE_CHEATS.includes(v.attack) && cv >= CV_TRUSTED && !v.cheating) {
            v.cheating = true;
            log(
              `  round ${round}: ${v.attack} volunteer ${v.id.slice(0, 10)} is trusted (CV ${cv}) and starts cheating`,
            );
          }
          if (!v.attack && cv >= CV_TRUSTED) trusted++;
        },
      );
      if (trustedAt === null && trusted >= 0.8 * honestFleet.length) {
        trustedAt = Date.now();
        log(`  round ${round}: ${trusted}/${honestFleet.length} honest volunteers trusted`);
      }
    }
    log(`  round ${round}: ${granted} leases, ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  await stop();

  const decided = await edgeDecisions({
    persist: PERSIST,
    tallies,
    honestResults,
    specOf: (experimentId) => world.specOf(indexOf(experimentId)),
    trustedAt,
    trustedPhase,
    spotChecksDone,
  });
  const { attacks } = decided;

  const summary = {
    volunteers: fleet.length,
    honestVolunteers: honestFleet.length,
    ...decided.counts,
    attacks: {
      ...attacks,
      // Hoarders submit nothing: what they held against the per-address cap, and for how long.
      hoarder: {
        ...attacks.hoarder,
        leaseAttempts: hoarding.attempts,
        leasesGranted: hoarding.granted,
        maxHeldAtOnce: hoarding.maxHeld,
        keys: HOARDER_KEYS * PER_ATTACK,
        addresses: PER_ATTACK,
        maxLeaseSeconds: hoarding.maxLeaseSeconds,
        heartbeats: hoarding.heartbeats,
      },
      'free-rider': {
        ...attacks['free-rider'],
        publicReads: freeRiderReads,
        pendingMetricsFound: freeRiderFound,
        alreadyVerifiedWhileHeld: freeRiderFoundVerified,
      },
      'spot-collusion': {
        ...attacks['spot-collusion'],
        partnerGotSpotChecksOfTarget: collusiveSpotChecks,
      },
      'linked-key': {
        ...attacks['linked-key'],
        secondRegistrationRefused: linkedKeyRegistrations.filter((s) => s === 409).length,
        secondRegistrationTried: linkedKeyRegistrations.length,
      },
    },
    detectionRate: decided.detectionRate,
    detectionRateAtEnd: decided.detectionRateAtEnd,
    falseDisputeRate: decided.falseDisputeRate,
    honestCrossBackendPairs: decided.honestCrossBackendPairs,
    honestResultsInvalid: decided.honestResultsInvalid,
    executionsPerVerified: decided.executionsPerVerified,
    executionsPerVerifiedUnderAttack: decided.executionsPerVerifiedUnderAttack,
    executionsPerVerifiedUnderAttackHonestOnly: decided.executionsPerVerifiedUnderAttackHonestOnly,
    phases: {
      withAttackers: {
        rounds: ROUNDS,
        trustedAfterSeconds: trustedAt === null ? null : Math.round((trustedAt - t0) / 1000),
        steadyVerified: decided.steadyVerified,
      },
      trustedFleet: { rounds: TRUSTED_ROUNDS, ...decided.trustedFleet },
    },
    spotChecks: spotCheckCount,
    checkpointsRevealed: revealed,
    spotChecksFromCheckpoints: checkpointsFetched,
    ledger: decided.ledger,
    p50Ms: {
      lease: p50(latencies.get('/api/leases')),
      result: p50(latencies.get('/api/results')),
      concurrency: CONCURRENCY,
    },
    model: {
      spreadBpb: SPREAD_BPB,
      curveSpreadNats: CURVE_SPREAD_NATS,
      seedSigmaBpb: SEED_SIGMA_BPB,
      batchSigmaNats: BATCH_SIGMA_NATS,
      preset: 'demo',
      seed: num('seed'),
      tauBpb: TAU_BPB,
      tauCurve: TAU_CURVE,
    },
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  if (values.json) console.log(JSON.stringify(summary));
  else console.log(JSON.stringify(summary, null, 2));
}

main().catch(async (e) => {
  console.error(e);
  edge?.kill('SIGTERM');
  process.exit(1);
});
