// What a claim binds besides the request, for the one scheduler (each campaign's queue:
// queue/campaign-queue.ts, by the rule in queue/queue-sql.ts): the claimant's standing read from D1,
// the terms derived from it, and how long a lease lives.
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
import { backendClass } from '../../../shared/backend-class.ts';
import type { Capabilities } from '../../../shared/protocol.ts';
import {
  CV_TRUSTED,
  MAX_OPEN_LEASES,
  MIN_WITNESSES,
  RELIABLE_REPUTATION,
  VOUCHED_REPUTATION,
  shouldReplicate,
  tierOf,
} from '../trust/policy.ts';
import { draw, ipHash, type TrustSecrets } from '../trust/secrets.ts';

export interface ClaimRequest {
  volunteerId: string;
  campaignId?: string;
  capabilities: Capabilities;
  now: number;
  ip?: string | null; // CF-Connecting-IP; only its salted hash is stored
}

// A lease of the claimant's own kind (?2 backend class, ?3 browser): its backend class, and its
// browser when both are known.
const SAME_KIND = `(COALESCE(l.backend_class, l.backend) = ?2 AND (l.browser IS NULL OR ?3 IS NULL OR l.browser = ?3))`;

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

/** What a claim binds besides the request, derived from the profile. */
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
const ACTIVE_AT_LEAST = (
  reputation: number,
) => `EXISTS (SELECT 1 FROM leases l JOIN volunteers r ON r.id = l.volunteer_id
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
           AND NOT ${SAME_KIND}) AS otherKindActive,
         CASE WHEN ${ACTIVE_AT_LEAST(RELIABLE_REPUTATION)} THEN 2 WHEN ${ACTIVE_AT_LEAST(VOUCHED_REPUTATION)} THEN 1 ELSE 0 END AS activeTier
       FROM volunteers v WHERE v.id = ?1`,
    )
    .bind(
      req.volunteerId,
      backendClass(req.capabilities.backend, precision),
      req.capabilities.browser ?? null,
      req.now,
      precision,
    );
}

/** The claim's terms, or null when the volunteer is unknown or already holds its quota of open leases. */
export async function claimTerms(
  req: ClaimRequest,
  profile: Profile | null,
): Promise<ClaimTerms | null> {
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
    single:
      cv >= CV_TRUSTED &&
      profile.witnesses >= MIN_WITNESSES &&
      !shouldReplicate(
        cv,
        await draw(profile.drawKey, `replicate:${req.volunteerId}:${profile.leaseCount}`),
      ),
  };
}

/**
 * A lease's first deadline: one heartbeat window, whatever speed the client claims (a claim of a
 * near-zero speed once bought a two-hour hold). Heartbeats extend it (EXTENDED_DEADLINE_SQL).
 */
export function leaseDeadline(now: number, windowMs: number): number {
  return now + windowMs;
}

/** The slowest device a lease waits for (WASM on a small laptop, ~1,000 tokens/s on the demo preset). */
export const SLOWEST_TOKENS_PER_SEC = 1000;
const MAX_LEASE_MS = 2 * 60 * 60 * 1000;

/**
 * How far a heartbeat moves a deadline, as SQL over a lease row (edge/src/db/leases.ts runs it in the
 * heartbeat's one D1 call): one window (?5, ms) from now (?4), never past the lease's lifetime —
 * three times what the experiment takes at the slowest supported speed, within [window, 2 h]. The
 * heartbeat writes it only once less than half a window is left (a heartbeat every 30 s then writes
 * every ~5 minutes).
 */
export const EXTENDED_DEADLINE_SQL = `CAST(MIN(created_at + MIN(${MAX_LEASE_MS}, MAX(?5,
  3000.0 * (SELECT e.tokens FROM experiments e WHERE e.id = leases.experiment_id) / ${SLOWEST_TOKENS_PER_SEC})), ?4 + ?5) AS INTEGER)`;
