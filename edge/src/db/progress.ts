// A campaign's progress: how many experiments are queued, running, awaiting a replica, verified or
// disputed, and an ETA for the rest from the throughput of the volunteers working on it now.
import type { CampaignProgress } from '../../../shared/protocol.ts';

// The counts migration 0019's triggers keep per campaign: one row, whatever the campaign's size.
const COUNTS_SQL = `
SELECT experiments, open_fresh AS openFresh, awaiting AS awaitingReplica, verified, disputed,
  remaining_tokens AS remainingTokens
FROM campaign_counts WHERE campaign_id = ?1`;

// Each live lease on the campaign with two throughput estimates for its volunteer: from the lease's
// own heartbeats (steps done × tokens per step / time since the claim) and from the volunteer's
// latest result anywhere (tokens / wall time); and whether its experiment has a result yet (an open
// experiment without one is running while a lease on it is live, queued otherwise). From the live
// leases (the leases_open index), which the fleet bounds, and not from the campaign's open experiments,
// which a large campaign does not: CROSS JOIN keeps SQLite to that order.
const FLEET_SQL = `
SELECT l.volunteer_id AS volunteerId, e.id AS experimentId,
  EXISTS (SELECT 1 FROM results r WHERE r.experiment_id = e.id) AS hasResult,
  CASE WHEN l.heartbeat_at > l.created_at AND l.last_step > 0
    THEN l.last_step * (e.tokens * 1.0 / json_extract(e.spec_json, '$.train.steps')) * 1000.0 / (l.heartbeat_at - l.created_at)
  END AS heartbeatRate,
  (SELECT json_extract(r.metrics_json, '$.tokens') * 1000.0 / MAX(1, json_extract(r.metrics_json, '$.wallMs'))
     FROM results r WHERE r.volunteer_id = l.volunteer_id ORDER BY r.created_at DESC LIMIT 1) AS resultRate
FROM leases l CROSS JOIN experiments e ON e.id = l.experiment_id
WHERE e.campaign_id = ?1 AND e.status = 'open' AND l.status = 'open' AND l.deadline > ?2`;

type Counts = Omit<
  CampaignProgress,
  'fleet' | 'etaSeconds' | 'updatedAt' | 'queued' | 'running'
> & {
  openFresh: number;
};
const NO_COUNTS: Counts = {
  experiments: 0,
  openFresh: 0,
  awaitingReplica: 0,
  verified: 0,
  disputed: 0,
  remainingTokens: 0,
};

export async function campaignProgress(
  db: D1Database,
  campaignId: string,
  now: number,
): Promise<CampaignProgress> {
  return progressOf(await db.batch(progressStatements(db, campaignId, now)), now);
}

/** campaignProgress's reads, to ride in another batch; progressOf reads their results. */
export function progressStatements(
  db: D1Database,
  campaignId: string,
  now: number,
): D1PreparedStatement[] {
  return [db.prepare(COUNTS_SQL).bind(campaignId), db.prepare(FLEET_SQL).bind(campaignId, now)];
}

export function progressOf([counts, fleet]: D1Result[], now: number): CampaignProgress {
  const { openFresh, ...c } = (counts!.results[0] as unknown as Counts | undefined) ?? NO_COUNTS;
  // A volunteer with two leases here still trains one at a time: count its rate once.
  const rates = new Map<string, number>();
  const running = new Set<string>();
  for (const row of fleet!.results as {
    volunteerId: string;
    experimentId: string;
    hasResult: number;
    heartbeatRate: number | null;
    resultRate: number | null;
  }[]) {
    if (!row.hasResult) running.add(row.experimentId);
    const rate = row.heartbeatRate ?? row.resultRate;
    if (rate && Number.isFinite(rate))
      rates.set(row.volunteerId, Math.max(rates.get(row.volunteerId) ?? 0, rate));
    else if (!rates.has(row.volunteerId)) rates.set(row.volunteerId, 0);
  }
  const tokensPerSec = [...rates.values()].reduce((a, b) => a + b, 0);
  return {
    ...c,
    queued: openFresh - running.size,
    running: running.size,
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
