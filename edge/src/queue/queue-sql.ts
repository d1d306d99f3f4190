// The claim rule, once: the campaign queue's SQLite tables, the claim on them (the trust rules are
// listed in queue/claim-terms.ts), the columns the queue reads from D1 to fill them, and the D1
// conditions that go with a lease: the per-address cap on its insert, and the replica slots a late
// result may still take (routes/results.ts).
import {
  MAX_OPEN_LEASES_PER_ADDRESS,
  RELIABLE_FIRST_MS,
  STEER_WAIT_MS,
  tierSql,
} from '../trust/policy.ts';

/**
 * How many experiments one claim ranks: the first this many open experiments the volunteer may
 * take (its own, same-address, other-precision and fully leased ones are skipped while scanning
 * experiments_by_status), not the whole queue — at 9k open experiments ranking them all cost
 * ~20 ms of SQLite per claim. The window holds only eligible experiments, so it is empty only
 * when the whole queue has nothing for this volunteer: no second, unwindowed claim is needed
 * (queue/claim.test.ts: the first 256 ineligible, it still gets the 257th).
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
 * The rank of a candidate experiment `c` (columns live, first_live, same_class, same_kind,
 * reissued_at, campaign_id, idx; live_tier for CLAIM_MATCH), used by the campaign queue's claim below. ?4 now, ?14 the claimant's tier
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
 * holds a bounded share of the work. ?4 now. On the queue's D1 lease insert (campaign-queue.ts).
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

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
-- Open experiments only: a verified or disputed one leaves, a reopened one comes back with its leases.
CREATE TABLE IF NOT EXISTS experiments (
  id TEXT PRIMARY KEY, idx INTEGER NOT NULL, tokens INTEGER NOT NULL, replicas_needed INTEGER NOT NULL,
  reissued_at INTEGER, audit INTEGER NOT NULL, quorum INTEGER NOT NULL, spec_json TEXT NOT NULL, spec_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS experiments_by_idx ON experiments (idx);
-- backend_class: COALESCE(backend_class, backend) as in D1's claim. registration_ip and reliable:
-- the holder's registration address and trust tier (trust/policy.ts tierSql: 0, 1, 2; the feed
-- notes changes).
CREATE TABLE IF NOT EXISTS leases (
  id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL, volunteer_id TEXT NOT NULL, backend_class TEXT NOT NULL,
  browser TEXT, precision TEXT NOT NULL, ip_hash TEXT, registration_ip TEXT, reliable INTEGER NOT NULL,
  single INTEGER NOT NULL, created_at INTEGER NOT NULL, deadline INTEGER NOT NULL, status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_experiment ON leases (experiment_id, volunteer_id);`;

// The claim on this object's tables, with its parameter numbers (?2
// volunteer, ?4 now, ?9 backend class, ?10 browser, ?11 precision, ?12 lease IP hash, ?13
// registration IP hash, ?14 the claimant's tier, ?16 another kind training, ?17 the others' highest tier).
// All experiments here are open and of one campaign, so the window is in idx order.
const LIVE = `(l.status = 'done' OR l.deadline > ?4)`;
const SAME_KIND = `(l.backend_class = ?9 AND (l.browser IS NULL OR ?10 IS NULL OR l.browser = ?10))`;
const LIVE_SLOTS = `(SELECT coalesce(sum(CASE WHEN l.single = 1 AND e.audit = 0 THEN e.replicas_needed ELSE 1 END), 0)
      FROM leases l WHERE l.experiment_id = e.id AND ${LIVE})`;
export const CANDIDATE_SQL = `
WITH cand AS (
  SELECT e.id, e.idx, e.tokens, e.replicas_needed, e.reissued_at, e.audit, e.quorum,
    ${LIVE_SLOTS} AS live,
    (SELECT min(l.created_at) FROM leases l WHERE l.experiment_id = e.id AND ${LIVE}) AS first_live,
    EXISTS (SELECT 1 FROM leases l WHERE l.experiment_id = e.id AND ${LIVE} AND l.backend_class = ?9) AS same_class,
    EXISTS (SELECT 1 FROM leases l WHERE l.experiment_id = e.id AND ${LIVE} AND ${SAME_KIND}) AS same_kind,
    (SELECT coalesce(max(l.reliable), 0) FROM leases l WHERE l.experiment_id = e.id AND ${LIVE}) AS live_tier
  FROM experiments e
  WHERE NOT EXISTS (SELECT 1 FROM leases m WHERE m.experiment_id = e.id AND m.volunteer_id = ?2)
    AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.experiment_id = e.id AND ${LIVE}
      AND (l.precision != ?11 OR l.ip_hash IN (?12, ?13) OR l.registration_ip IN (?12, ?13)))
    AND ${LIVE_SLOTS} < e.replicas_needed
  ORDER BY e.idx
  LIMIT ${CLAIM_WINDOW}
)
SELECT c.id, c.tokens, c.live, c.audit, c.quorum, ${CLAIM_RANK} AS rank, ${CLAIM_MATCH} AS match, c.first_live AS firstLive
FROM cand c
ORDER BY rank, match, c.first_live, c.idx
LIMIT 1`;

// What the object reads from D1. ?1 campaign, ?2 the feed position already applied.
export const EXPERIMENT_COLUMNS = `e.id, e.status, e.idx, e.tokens, e.replicas_needed, e.reissued_at, e.audit, e.quorum`;
export const LEASE_COLUMNS = `l.id, l.experiment_id, l.volunteer_id, COALESCE(l.backend_class, l.backend) AS backend_class, l.browser,
  l.precision, l.ip_hash, v.ip_hash AS registration_ip, ${tierSql('v.reputation')} AS reliable, l.single,
  l.created_at, l.deadline, l.status`;
export const CHANGED = `(SELECT experiment_id FROM queue_changes WHERE campaign_id = ?1 AND seq > ?2)`;
