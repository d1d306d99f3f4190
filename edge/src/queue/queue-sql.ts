// The campaign queue's SQL: its own SQLite tables, the claim on them (scheduler.ts's rules, with
// the rank shared verbatim), and the columns it reads from D1 to fill them.
import { CLAIM_MATCH, CLAIM_RANK, CLAIM_WINDOW } from '../scheduler.ts';
import { tierSql } from '../trust/policy.ts';

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

// The claim of scheduler.ts's CLAIM_SQL on this object's tables, with its parameter numbers (?2
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
