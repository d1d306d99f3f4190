// The scheduler: which experiment a volunteer trains next. Behind an interface with two
// implementations, chosen by wrangler.toml's SCHEDULER: D1Scheduler below claims in D1 with one
// statement; QueueScheduler (queue/) claims in each campaign's Durable Object, by the same rules
// (it shares the profile, the terms and the rank defined here).
//
// Trust rules applied here (numbers in trust/policy.ts):
// - a volunteer never holds two replicas of one experiment, and two leases whose volunteers
//   registered or leased from one address never replicate each other;
// - float16 and float32 paths never share an experiment (their tolerances differ);
// - replicas are steered to another backend class / browser: while volunteers of another kind (of
//   the same precision: only they could replicate) are training, an experiment whose live leases
//   are all of the claimant's kind waits STEER_WAIT_MS for another kind and fresh work goes first
//   (a fleet of one kind pairs at once);
// - replica slots go to the highest trust tier training now (trust/policy.ts: reliable, or in a
//   cold start vouched for); everyone below takes fresh work, and a replica only once its slot has
//   waited RELIABLE_FIRST_MS. So a free-rider never picks its accomplice's experiment to copy: it
//   gets fresh work, and its accomplice gets its work to replicate only as the oldest waiting slot
//   (a lease just taken is the newest); two newcomers — two keys of one person on two addresses,
//   or two users of one cheating client — rarely verify each other; reliable volunteers replicate
//   newcomers' work first;
// - reissued replicas (after a disagreement or an audit) go to reliable volunteers first: while a
//   reliable volunteer is training, others get them for RELIABLE_FIRST_MS only when nothing else
//   is left;
// - the open-lease quota is cut after an invalid result;
// - adaptive replication: a trusted volunteer's fresh experiment may stand alone (single), by a
//   keyed draw the volunteer never sees, decided within the claim;
// - clients that declare spotChecks get pending spot checks first.
import { randomToken, sha256 } from '../../shared/crypto.ts';
import { backendClass } from '../../shared/backend-class.ts';
import type { Capabilities, Lease } from '../../shared/protocol.ts';
import { ExperimentSpec } from '../../shared/spec.ts';
import { CV_TRUSTED, MAX_OPEN_LEASES, MAX_OPEN_LEASES_PER_ADDRESS, MIN_WITNESSES, RELIABLE_FIRST_MS, RELIABLE_REPUTATION, STEER_WAIT_MS, VOUCHED_REPUTATION, shouldReplicate, tierOf, tierSql } from './trust/policy.ts';
import { draw, ipHash, type TrustSecrets } from './trust/secrets.ts';
import { checkpointPath } from './trust/spot-checks.ts';

export { MAX_OPEN_LEASES } from './trust/policy.ts';

export interface ClaimRequest {
  volunteerId: string;
  campaignId?: string;
  capabilities: Capabilities;
  now: number;
  ip?: string | null; // CF-Connecting-IP; only its salted hash is stored
}

export interface Scheduler {
  claim(req: ClaimRequest): Promise<Lease | null>;
}

export const SPOT_CHECK_PATH = '/api/results/spot-checks';

// "Live" leases hold a replica slot: finished ones, and open ones before their deadline.
const LIVE = `(l.status = 'done' OR l.deadline > ?4)`;
// A lease of the claimant's own kind: its backend class, and its browser when both are known.
const SAME_KIND = `(COALESCE(l.backend_class, l.backend) = ?9 AND (l.browser IS NULL OR ?10 IS NULL OR l.browser = ?10))`;

/**
 * How many experiments one claim ranks: the first this many open experiments the volunteer may
 * take (its own, same-address, other-precision and fully leased ones are skipped while scanning
 * experiments_by_status), not the whole queue — at 9k open experiments ranking them all cost
 * ~20 ms of SQLite per claim. The window holds only eligible experiments, so it is empty only
 * when the whole queue has nothing for this volunteer: no second, unwindowed claim is needed
 * (scheduler.test.ts: the first 256 ineligible, it still gets the 257th).
 *
 * Trade-off: the rank (reissued work first for reliable volunteers, replicas before fresh work,
 * oldest waiting replica first) applies within the window. An eligible experiment past the first
 * CLAIM_WINDOW eligible ones in (campaign, idx) order — a reissued or half-replicated experiment of
 * a later campaign, or far down a long one — waits until the window reaches it, however high it
 * would rank. Work is handed out in idx order, so in-flight and reissued experiments are mostly
 * near a campaign's front; a volunteer naming a campaign gets that campaign's own window.
 */
export const CLAIM_WINDOW = 256;

/**
 * One statement claims: INSERT … SELECT picks the experiment and writes the lease atomically
 * (D1 is single-writer), so two volunteers can never take the same replica slot.
 * ?1 lease id, ?2 volunteer, ?3 token hash, ?4 now, ?5 backend, ?6 min lease ms, ?7 campaign,
 * ?8 tokens/s, ?9 backend class, ?10 browser, ?11 precision, ?12 lease IP hash,
 * ?13 registration IP hash, ?14 the claimant's tier (0/1/2), ?15 open-lease quota, ?16 another kind
 * is training now (0/1), ?17 the highest tier of the others training now (0/1/2), ?18 the
 * replication draw lets this lease stand alone if its experiment is fresh (0/1).
 *
 * A single lease fills all of its experiment's replica slots (it counts replicas_needed times), so
 * the decision is part of the claim: nobody can slip a replica in between.
 */
/**
 * The rank of a candidate experiment `c` (columns live, first_live, same_class, same_kind,
 * reissued_at, campaign_id, idx; live_tier for CLAIM_MATCH), shared by the D1 claim and the campaign queue
 * (queue/campaign-queue.ts), so both hand out work by one rule. ?4 now, ?14 the claimant's tier
 * (trust/policy.ts: 0 newcomer, 1 vouched for, 2 reliable), ?16 another kind is training now
 * (0/1), ?17 the highest tier of the other volunteers training now. live_tier: the highest tier
 * among the experiment's live leases.
 */
export const CLAIM_RANK = `
  CASE
    WHEN c.reissued_at IS NOT NULL AND ?14 = 2 THEN 0                -- reissued work, for a reliable volunteer
    WHEN ?17 = 2 AND c.reissued_at > ?4 - ${RELIABLE_FIRST_MS} THEN 7 -- …which others get only when nothing else is left
    WHEN ?14 < ?17 AND c.live > 0                                    -- replicas go to the highest tier training now (a
      AND c.first_live > ?4 - ${RELIABLE_FIRST_MS} THEN 6            -- cold start: vouched for), others do fresh work meanwhile
    WHEN c.live > 0 AND NOT c.same_class THEN 1                      -- a replica on another backend class
    WHEN c.live > 0 AND NOT c.same_kind THEN 2                       -- …or at least another browser
    WHEN c.live > 0 AND (?16 = 0 OR c.first_live <= ?4 - ${STEER_WAIT_MS}) THEN 3 -- nobody else to wait for, or waited enough
    WHEN c.live = 0 THEN 4                                           -- fresh work
    ELSE 5                                                           -- a replica on the same kind
  END`;
/** Within a rank: reliable volunteers replicate newcomers' work first, and newcomers reliable ones'. */
export const CLAIM_MATCH = `CASE WHEN c.live > 0 THEN (c.live_tier = 2) = (?14 = 2) ELSE 0 END`;

/**
 * The claimant's lease address (?12) holds fewer than MAX_OPEN_LEASES_PER_ADDRESS open leases (a
 * local browser, with no address, is not counted): however many keys one address registers, it
 * holds a bounded share of the work. ?4 now. Shared by both schedulers' lease inserts.
 */
export const ADDRESS_UNDER_CAP = `(?12 IS NULL OR (SELECT count(*) FROM leases a WHERE a.ip_hash = ?12 AND a.status = 'open' AND a.deadline > ?4) < ${MAX_OPEN_LEASES_PER_ADDRESS})`;

/**
 * Replica slots of experiment `e` that its live leases hold (a single lease holds them all), as of
 * `now`; `also` narrows the leases counted. The results route uses it for late results.
 */
export function liveSlots(now: string, also = '1'): string {
  return `(SELECT coalesce(sum(CASE WHEN l.single = 1 AND e.audit = 0 THEN e.replicas_needed ELSE 1 END), 0)
      FROM leases l WHERE l.experiment_id = e.id AND (l.status = 'done' OR l.deadline > ${now}) AND ${also})`;
}
const LIVE_SLOTS = liveSlots('?4');
const CLAIM_SQL = `
WITH cand AS (
  SELECT e.id, e.campaign_id, e.idx, e.tokens, e.replicas_needed, e.reissued_at, e.audit, e.quorum,
    ${LIVE_SLOTS} AS live,
    (SELECT min(l.created_at) FROM leases l WHERE l.experiment_id = e.id AND ${LIVE}) AS first_live,
    EXISTS (SELECT 1 FROM leases l WHERE l.experiment_id = e.id AND ${LIVE} AND COALESCE(l.backend_class, l.backend) = ?9) AS same_class,
    EXISTS (SELECT 1 FROM leases l WHERE l.experiment_id = e.id AND ${LIVE} AND ${SAME_KIND}) AS same_kind,
    (SELECT coalesce(max(${tierSql('r.reputation')}), 0) FROM leases l JOIN volunteers r ON r.id = l.volunteer_id
      WHERE l.experiment_id = e.id AND ${LIVE}) AS live_tier
  FROM experiments e
  WHERE e.status = 'open'
    AND (?7 IS NULL OR e.campaign_id = ?7)
    AND NOT EXISTS (SELECT 1 FROM leases m WHERE m.experiment_id = e.id AND m.volunteer_id = ?2)
    AND NOT EXISTS (SELECT 1 FROM leases l JOIN volunteers v ON v.id = l.volunteer_id
      WHERE l.experiment_id = e.id AND ${LIVE}
        AND (l.precision != ?11 OR l.ip_hash IN (?12, ?13) OR v.ip_hash IN (?12, ?13)))
    AND ${LIVE_SLOTS} < e.replicas_needed
  -- The window: the first CLAIM_WINDOW eligible open experiments, in experiments_by_status order
  -- (no sort: the scan stops at the window's end), so the rank below runs on at most that many.
  ORDER BY e.status, e.campaign_id, e.idx
  LIMIT ${CLAIM_WINDOW}
)
INSERT INTO leases (id, experiment_id, volunteer_id, token_hash, backend, created_at, deadline, backend_class, precision, browser, ip_hash, single)
SELECT ?1, c.id, ?2, ?3, ?5, ?4,
  ?4 + ?6, -- deadline: one heartbeat window (leaseDeadline); heartbeats extend it (routes/leases.ts)
  ?9, ?11, ?10, ?12,
  CASE WHEN ?18 = 1 AND c.live = 0 AND c.audit = 0 AND c.quorum <= 2 THEN 1 ELSE 0 END
FROM cand c
WHERE c.live < c.replicas_needed
  AND (SELECT count(*) FROM leases l WHERE l.volunteer_id = ?2 AND l.status = 'open' AND l.deadline > ?4) < ?15
  AND ${ADDRESS_UNDER_CAP}
ORDER BY
  ${CLAIM_RANK},
  ${CLAIM_MATCH},
  c.first_live, -- oldest waiting replica first: a colluder leasing right after its partner gets the
                -- partner's experiment only when no older replica slot is open
  c.campaign_id, c.idx
LIMIT 1
RETURNING id, experiment_id AS experimentId, deadline,
  -- the spec comes back with the claim: one D1 call fewer per lease
  (SELECT campaign_id FROM experiments WHERE id = experiment_id) AS campaignId,
  (SELECT spec_json FROM experiments WHERE id = experiment_id) AS specJson,
  (SELECT spec_hash FROM experiments WHERE id = experiment_id) AS specHash`;

/** Open spot checks (or ones whose lease expired) this volunteer may take. ?1 volunteer, ?2 now … */
const SPOT_CLAIM_SQL = `
UPDATE spot_checks SET status = 'leased', volunteer_id = ?1, token_hash = ?3, deadline = ?4
WHERE NOT EXISTS (SELECT 1 FROM spot_checks h WHERE h.volunteer_id = ?1 AND h.status = 'leased' AND h.deadline > ?2) -- one at a time
  AND id = (
  SELECT s.id FROM spot_checks s
    JOIN results r ON r.id = s.result_id JOIN leases l ON l.id = r.lease_id JOIN volunteers tv ON tv.id = r.volunteer_id
    JOIN experiments e ON e.id = s.experiment_id
  WHERE (s.status = 'open' OR (s.status = 'leased' AND s.deadline <= ?2))
    AND s.precision = ?5 AND r.volunteer_id != ?1
    AND NOT COALESCE(l.ip_hash IN (?6, ?7) OR tv.ip_hash IN (?6, ?7), 0)
    -- independent of the checked volunteer: never its witness, nor at a witness's address
    AND NOT EXISTS (SELECT 1 FROM witnesses w WHERE w.volunteer_id = r.volunteer_id AND (w.witness_id = ?1 OR w.witness_ip IN (?6, ?7)))
    AND (?8 IS NULL OR e.campaign_id = ?8)
  ORDER BY s.created_at LIMIT 1)
RETURNING id, experiment_id AS experimentId, from_step AS fromStep, to_step AS toStep, deadline`;

/** The claimant's standing and the database's trust secrets, read in one statement before a claim. */
export interface Profile extends TrustSecrets {
  reputation: number;
  quota: number;
  registrationIp: string | null;
  cv: number | null;
  openLeases: number;
  leaseCount: number;
  witnesses: number; // distinct identities that verified its work, counted up to MIN_WITNESSES
  otherKindActive: 0 | 1;
  activeTier: 0 | 1 | 2;
}

/** What a claim binds besides the request: derived from the profile, the same for both schedulers. */
export interface ClaimTerms {
  precision: string;
  klass: string;
  browser: string | null;
  quota: number;
  leaseIp: string | null;
  registrationIp: string | null;
  tier: 0 | 1 | 2; // the claimant's (trust/policy.ts)
  otherKindActive: 0 | 1;
  activeTier: 0 | 1 | 2; // the highest of the other volunteers training now
  /** The replication draw lets this lease stand alone if its experiment is fresh. */
  single: boolean;
}

/** Whether a volunteer other than ?1 with at least this reputation holds a live open lease (EXISTS stops at the first). */
const ACTIVE_AT_LEAST = (reputation: number) => `EXISTS (SELECT 1 FROM leases l JOIN volunteers r ON r.id = l.volunteer_id
           WHERE l.status = 'open' AND l.deadline > ?4 AND l.volunteer_id != ?1 AND r.reputation >= ${reputation})`;

export function profileStatement(db: D1Database, req: ClaimRequest): D1PreparedStatement {
  const precision = req.capabilities.precision ?? 'float32';
  return db
    .prepare(
      `SELECT v.reputation, v.lease_quota AS quota, v.ip_hash AS registrationIp,
         (SELECT c.consecutive_valid FROM volunteer_classes c WHERE c.volunteer_id = v.id AND c.backend_class = ?2) AS cv,
         (SELECT value FROM trust_secrets WHERE name = 'ip_salt') AS ipSalt,
         (SELECT value FROM trust_secrets WHERE name = 'draw_key') AS drawKey,
         (SELECT count(*) FROM leases l WHERE l.volunteer_id = ?1 AND l.status = 'open' AND l.deadline > ?4) AS openLeases,
         (SELECT count(*) FROM leases l WHERE l.volunteer_id = ?1) AS leaseCount,
         (SELECT count(DISTINCT k) FROM (SELECT coalesce(w.witness_ip, w.witness_id) AS k FROM witnesses w WHERE w.volunteer_id = ?1
           LIMIT ${4 * MIN_WITNESSES})) AS witnesses,
         EXISTS (SELECT 1 FROM leases l WHERE l.status = 'open' AND l.deadline > ?4 AND l.precision = ?5
           AND NOT ${SAME_KIND.replaceAll('?9', '?2').replaceAll('?10', '?3')}) AS otherKindActive,
         CASE WHEN ${ACTIVE_AT_LEAST(RELIABLE_REPUTATION)} THEN 2 WHEN ${ACTIVE_AT_LEAST(VOUCHED_REPUTATION)} THEN 1 ELSE 0 END AS activeTier
       FROM volunteers v WHERE v.id = ?1`,
    )
    .bind(req.volunteerId, backendClass(req.capabilities.backend, precision), req.capabilities.browser ?? null, req.now, precision);
}

/** The claim's terms, or null when the volunteer is unknown or already holds its quota of open leases. */
export async function claimTerms(req: ClaimRequest, profile: Profile | null): Promise<ClaimTerms | null> {
  if (!profile) return null;
  const quota = Math.min(profile.quota, MAX_OPEN_LEASES);
  if (profile.openLeases >= quota) return null;
  const caps = req.capabilities;
  const precision = caps.precision ?? 'float32';
  // Adaptive replication, drawn before the claim from the volunteer's lease count: the draw key
  // is secret, so the volunteer cannot tell which of its results will be replicated.
  const cv = profile.cv ?? 0;
  return {
    precision,
    klass: backendClass(caps.backend, precision),
    browser: caps.browser ?? null,
    quota,
    leaseIp: await ipHash(profile.ipSalt, req.ip),
    registrationIp: profile.registrationIp,
    tier: tierOf(profile.reputation),
    otherKindActive: profile.otherKindActive,
    activeTier: profile.activeTier,
    single: cv >= CV_TRUSTED && profile.witnesses >= MIN_WITNESSES
      && !shouldReplicate(cv, await draw(profile.drawKey, `replicate:${req.volunteerId}:${profile.leaseCount}`)),
  };
}

/**
 * A lease's first deadline: one heartbeat window, whatever speed the client claims (a claim of a
 * near-zero speed once bought a two-hour hold). Heartbeats extend it (leaseExtension).
 */
export function leaseDeadline(now: number, windowMs: number): number {
  return now + windowMs;
}

/**
 * How far a heartbeat moves a deadline: one window from now, never past the lease's lifetime —
 * three times what the experiment takes at the slowest supported speed, within [window, 2 h] — and
 * only once less than half a window is left (a heartbeat every 30 s then writes every ~5 minutes).
 * Null: no change.
 */
export function leaseExtension(l: { createdAt: number; deadline: number; tokens: number }, now: number, windowMs: number): number | null {
  const lifetime = Math.min(MAX_LEASE_MS, Math.max(windowMs, (3000 * l.tokens) / SLOWEST_TOKENS_PER_SEC));
  const next = Math.trunc(Math.min(l.createdAt + lifetime, now + windowMs));
  return next - l.deadline >= windowMs / 2 ? next : null;
}

/** The slowest device a lease waits for (WASM on a small laptop, ~1,000 tokens/s on the demo preset). */
export const SLOWEST_TOKENS_PER_SEC = 1000;
const MAX_LEASE_MS = 2 * 60 * 60 * 1000;

interface ExperimentRow {
  campaignId: string;
  specJson: string;
  specHash: string;
}

export class D1Scheduler implements Scheduler {
  #db: D1Database;
  #minSeconds: number;

  constructor(db: D1Database, minLeaseSeconds: number) {
    this.#db = db;
    this.#minSeconds = minLeaseSeconds;
  }

  async claim(req: ClaimRequest): Promise<Lease | null> {
    const db = this.#db;
    // At its quota a volunteer gets nothing: answered here, before the claim scans the queue.
    const terms = await claimTerms(req, await profileStatement(db, req).first<Profile>());
    if (!terms) return null;
    const leaseToken = randomToken(32);
    const tokenHash = await sha256(leaseToken);

    if (req.capabilities.spotChecks) {
      const spot = await this.claimSpotCheck(req, terms, tokenHash);
      if (spot) return { ...spot, leaseToken };
    }

    const leaseId = 'l_' + randomToken(12);
    const claimed = await db
      .prepare(CLAIM_SQL)
      .bind(leaseId, req.volunteerId, tokenHash, req.now, req.capabilities.backend, this.#minSeconds * 1000, req.campaignId ?? null,
        null, terms.klass, terms.browser, terms.precision, terms.leaseIp, terms.registrationIp,
        terms.tier, terms.quota, terms.otherKindActive, terms.activeTier, terms.single ? 1 : 0)
      .first<{ id: string; experimentId: string; deadline: number } & ExperimentRow>();
    if (!claimed) return null;
    return {
      leaseId,
      leaseToken,
      deadline: claimed.deadline,
      campaignId: claimed.campaignId,
      experimentId: claimed.experimentId,
      specHash: claimed.specHash,
      spec: ExperimentSpec.parse(JSON.parse(claimed.specJson)),
    };
  }

  /** A pending spot check for a client that declared spotChecks (the queue scheduler uses it too). */
  async claimSpotCheck(req: ClaimRequest, terms: ClaimTerms, tokenHash: string): Promise<Omit<Lease, 'leaseToken'> | null> {
    const db = this.#db;
    // A spot check trains one segment; its deadline is sized like a lease for the whole spec would
    // be, which is generous and keeps one rule.
    const claimed = await db
      .prepare(SPOT_CLAIM_SQL)
      .bind(req.volunteerId, req.now, tokenHash, req.now + this.#minSeconds * 1000, terms.precision, terms.leaseIp, terms.registrationIp, req.campaignId ?? null)
      .first<{ id: string; experimentId: string; fromStep: number; toStep: number; deadline: number }>();
    if (!claimed) return null;
    const row = await db
      .prepare('SELECT campaign_id AS campaignId, spec_json AS specJson, spec_hash AS specHash FROM experiments WHERE id = ?')
      .bind(claimed.experimentId)
      .first<ExperimentRow>();
    if (!row) throw new Error(`experiment ${claimed.experimentId} vanished after a spot-check claim`);
    return {
      leaseId: claimed.id,
      deadline: claimed.deadline,
      campaignId: row.campaignId,
      experimentId: claimed.experimentId,
      specHash: row.specHash,
      spec: ExperimentSpec.parse(JSON.parse(row.specJson)),
      kind: 'spot-check',
      spotCheck: {
        fromStep: claimed.fromStep,
        toStep: claimed.toStep,
        submitPath: SPOT_CHECK_PATH,
        ...(claimed.fromStep > 0 && { checkpointPath: checkpointPath(claimed.id) }), // revealed (trust/spot-checks.ts)
      },
    };
  }
}
