// A campaign's progress: how many experiments are queued, running, awaiting a replica, verified or
// disputed, and an ETA for the rest from the throughput of the volunteers working on it now.
import type { CampaignProgress } from '../../../shared/protocol.ts';

// One row per experiment of the campaign (the UNIQUE (campaign_id, idx) index finds them), with its
// result count and live open leases through results_by_experiment and leases_by_experiment.
const COUNTS_SQL = `
SELECT count(*) AS experiments,
  coalesce(sum(status = 'open' AND results = 0 AND running = 0), 0) AS queued,
  coalesce(sum(status = 'open' AND results = 0 AND running > 0), 0) AS running,
  coalesce(sum(status = 'open' AND results > 0), 0) AS awaitingReplica,
  coalesce(sum(status = 'verified'), 0) AS verified,
  coalesce(sum(status = 'disputed'), 0) AS disputed,
  coalesce(sum(CASE WHEN status = 'open' THEN tokens * MAX(0, replicas_needed - results) ELSE 0 END), 0) AS remainingTokens
FROM (
  SELECT e.status, e.tokens, e.replicas_needed,
    (SELECT count(*) FROM results r WHERE r.experiment_id = e.id) AS results,
    (SELECT count(*) FROM leases l WHERE l.experiment_id = e.id AND l.status = 'open' AND l.deadline > ?2) AS running
  FROM experiments e WHERE e.campaign_id = ?1
)`;

// Each live lease on the campaign with two throughput estimates for its volunteer: from the lease's
// own heartbeats (steps done × tokens per step / time since the claim) and from the volunteer's
// latest result anywhere (tokens / wall time).
const FLEET_SQL = `
SELECT l.volunteer_id AS volunteerId,
  CASE WHEN l.heartbeat_at > l.created_at AND l.last_step > 0
    THEN l.last_step * (e.tokens * 1.0 / json_extract(e.spec_json, '$.train.steps')) * 1000.0 / (l.heartbeat_at - l.created_at)
  END AS heartbeatRate,
  (SELECT json_extract(r.metrics_json, '$.tokens') * 1000.0 / MAX(1, json_extract(r.metrics_json, '$.wallMs'))
     FROM results r WHERE r.volunteer_id = l.volunteer_id ORDER BY r.created_at DESC LIMIT 1) AS resultRate
FROM experiments e JOIN leases l ON l.experiment_id = e.id
WHERE e.campaign_id = ?1 AND e.status = 'open' AND l.status = 'open' AND l.deadline > ?2`;

type Counts = Omit<CampaignProgress, 'fleet' | 'etaSeconds' | 'updatedAt'>;

export async function campaignProgress(
  db: D1Database,
  campaignId: string,
  now: number,
): Promise<CampaignProgress> {
  const [counts, fleet] = await db.batch<Record<string, unknown>>([
    db.prepare(COUNTS_SQL).bind(campaignId, now),
    db.prepare(FLEET_SQL).bind(campaignId, now),
  ]);
  const c = counts!.results[0] as unknown as Counts;
  // A volunteer with two leases here still trains one at a time: count its rate once.
  const rates = new Map<string, number>();
  for (const row of fleet!.results as {
    volunteerId: string;
    heartbeatRate: number | null;
    resultRate: number | null;
  }[]) {
    const rate = row.heartbeatRate ?? row.resultRate;
    if (rate && Number.isFinite(rate))
      rates.set(row.volunteerId, Math.max(rates.get(row.volunteerId) ?? 0, rate));
    else if (!rates.has(row.volunteerId)) rates.set(row.volunteerId, 0);
  }
  const tokensPerSec = [...rates.values()].reduce((a, b) => a + b, 0);
  return {
    ...c,
    fleet: { volunteers: rates.size, tokensPerSec },
    etaSeconds:
      c.remainingTokens === 0
        ? 0
        : tokensPerSec > 0
          ? Math.ceil(c.remainingTokens / tokensPerSec)
          : null,
    updatedAt: now,
  };
}
