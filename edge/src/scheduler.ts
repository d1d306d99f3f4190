// The scheduler: which experiment a volunteer trains next. Behind an interface so a campaign's
// queue can move into its own Durable Object without touching the routes (DESIGN.md, Scale).
import { randomToken, sha256 } from '../../shared/crypto.ts';
import type { Capabilities, Lease } from '../../shared/protocol.ts';
import { ExperimentSpec } from '../../shared/spec.ts';

export interface ClaimRequest {
  volunteerId: string;
  campaignId?: string;
  capabilities: Capabilities;
  now: number;
}

export interface Scheduler {
  claim(req: ClaimRequest): Promise<Lease | null>;
}

/** Open leases one volunteer may hold at once (a tab, plus one being resumed after a reload). */
export const MAX_OPEN_LEASES = 2;
/** Slowest throughput assumed when a volunteer reports none (WASM on a small laptop). */
const FALLBACK_TOKENS_PER_SEC = 1000;
const MAX_LEASE_MS = 2 * 60 * 60 * 1000;

function tokensPerSec(caps: Capabilities): number {
  return caps.tokensPerSec && caps.tokensPerSec > 0 ? caps.tokensPerSec : FALLBACK_TOKENS_PER_SEC;
}

// "Live" leases hold a replica slot: finished ones, and open ones before their deadline.
const LIVE = `(l.status = 'done' OR l.deadline > ?4)`;

/**
 * One statement claims: INSERT … SELECT picks the experiment and writes the lease atomically
 * (D1 is single-writer), so two volunteers can never take the same replica slot. Experiments
 * that already have a live replica go first, so replicas complete and verify early.
 */
const CLAIM_SQL = `
INSERT INTO leases (id, experiment_id, volunteer_id, token_hash, backend, created_at, deadline)
SELECT ?1, e.id, ?2, ?3, ?5, ?4,
  -- deadline: three times the expected time on this device, within [minimum, 2 h]
  CAST(?4 + MIN(${MAX_LEASE_MS}, MAX(?6, 3000.0 * e.tokens / ?8)) AS INTEGER)
FROM experiments e
WHERE e.status = 'open'
  AND (?7 IS NULL OR e.campaign_id = ?7)
  AND NOT EXISTS (SELECT 1 FROM leases m WHERE m.experiment_id = e.id AND m.volunteer_id = ?2)
  AND (SELECT count(*) FROM leases l WHERE l.experiment_id = e.id AND ${LIVE}) < e.replicas_needed
  AND (SELECT count(*) FROM leases l WHERE l.volunteer_id = ?2 AND l.status = 'open' AND l.deadline > ?4) < ${MAX_OPEN_LEASES}
ORDER BY (SELECT count(*) FROM leases l WHERE l.experiment_id = e.id AND ${LIVE}) DESC, e.campaign_id, e.idx
LIMIT 1
RETURNING id, experiment_id AS experimentId, deadline`;

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
    const leaseId = 'l_' + randomToken(12);
    const leaseToken = randomToken(32);
    const claimed = await this.#db
      .prepare(CLAIM_SQL)
      .bind(leaseId, req.volunteerId, await sha256(leaseToken), req.now, req.capabilities.backend,
        this.#minSeconds * 1000, req.campaignId ?? null, tokensPerSec(req.capabilities))
      .first<{ id: string; experimentId: string; deadline: number }>();
    if (!claimed) return null;
    const exp = await this.#db
      .prepare('SELECT campaign_id AS campaignId, spec_json AS specJson, spec_hash AS specHash FROM experiments WHERE id = ?')
      .bind(claimed.experimentId)
      .first<ExperimentRow>();
    if (!exp) throw new Error(`experiment ${claimed.experimentId} vanished after its claim`);
    const spec = ExperimentSpec.parse(JSON.parse(exp.specJson));
    return {
      leaseId,
      leaseToken,
      deadline: claimed.deadline,
      campaignId: exp.campaignId,
      experimentId: claimed.experimentId,
      specHash: exp.specHash,
      spec,
    };
  }
}
