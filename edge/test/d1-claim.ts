// The D1 claim: one INSERT … SELECT that picks an experiment and writes its lease atomically, by the
// same rank as the campaign queue (queue/queue-sql.ts). Production claims only in the queue; this
// claim is the test oracle the queue's choices are compared with (queue/campaign-queue.test.ts), so
// a queue that falls out of step with D1 (its change feed, its own tables) is caught.
import { randomToken, sha256 } from '../../shared/crypto.ts';
import type { Lease } from '../../shared/protocol.ts';
import { ExperimentSpec } from '../../shared/spec.ts';
import {
  claimTerms,
  profileStatement,
  type ClaimRequest,
  type Profile,
} from '../src/queue/claim-terms.ts';
import {
  ADDRESS_UNDER_CAP,
  CLAIM_MATCH,
  CLAIM_RANK,
  CLAIM_WINDOW,
  liveSlots,
} from '../src/queue/queue-sql.ts';
import { tierSql } from '../src/trust/policy.ts';

// "Live" leases hold a replica slot: finished ones, and open ones before their deadline.
const LIVE = `(l.status = 'done' OR l.deadline > ?4)`;
// A lease of the claimant's own kind: its backend class, and its browser when both are known.
const SAME_KIND = `(COALESCE(l.backend_class, l.backend) = ?9 AND (l.browser IS NULL OR ?10 IS NULL OR l.browser = ?10))`;

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

interface ExperimentRow {
  campaignId: string;
  specJson: string;
  specHash: string;
}

export class D1Claim {
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

    const leaseId = 'l_' + randomToken(12);
    const claimed = await db
      .prepare(CLAIM_SQL)
      .bind(
        leaseId,
        req.volunteerId,
        tokenHash,
        req.now,
        req.capabilities.backend,
        this.#minSeconds * 1000,
        req.campaignId ?? null,
        null,
        terms.klass,
        terms.browser,
        terms.precision,
        terms.leaseIp,
        terms.registrationIp,
        terms.tier,
        terms.quota,
        terms.otherKindActive,
        terms.activeTier,
        terms.single ? 1 : 0,
      )
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
}
