// Standings: volunteers by credit (the FLOPs of the experiments their results helped verify,
// DESIGN.md) and campaigns by progress, across the whole edge or within one campaign.
import type { CampaignStanding, VolunteerStanding } from '../../../shared/protocol.ts';

export const STANDINGS_LIMIT = 1_000;

/** BOINC's recent average credit: credit per day, each grant decaying with a one-week half-life. */
export const RAC_HALF_LIFE_DAYS = 7;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

// The agreeing (valid) and outvoted (invalid) results per volunteer; pending ones count for nothing
// yet. Credit is the FLOPs of each agreeing result's experiment (DESIGN.md), minus what the trust
// ledger revoked when the schema has results.credit_state (0004_trust.sql). results_by_verdict
// serves the scan.
const VOLUNTEERS_SQL = (campaign: boolean, revocable: boolean) => `
SELECT r.volunteer_id AS volunteerId, v.display_name AS displayName,
  sum(CASE WHEN r.verdict = 'valid' ${revocable ? "AND r.credit_state != 'revoked'" : ''} THEN e.flops ELSE 0 END) AS credit,
  sum(r.verdict = 'valid') AS verifiedExperiments,
  sum(r.verdict = 'invalid') AS rejectedResults
FROM results r JOIN experiments e ON e.id = r.experiment_id JOIN volunteers v ON v.id = r.volunteer_id
WHERE r.verdict IN ('valid', 'invalid') ${campaign ? 'AND e.campaign_id = ?1' : ''}
GROUP BY r.volunteer_id ORDER BY credit DESC, verifiedExperiments DESC, r.volunteer_id LIMIT ${STANDINGS_LIMIT}`;

// Credit granted per volunteer and hour over the last eight half-lives (older grants weigh < 0.4 %).
const RECENT_SQL = (campaign: boolean, revocable: boolean) => `
SELECT r.volunteer_id AS volunteerId, e.verified_at / ${HOUR_MS} AS hour, sum(e.flops) AS flops
FROM results r JOIN experiments e ON e.id = r.experiment_id
WHERE r.verdict = 'valid' ${revocable ? "AND r.credit_state != 'revoked'" : ''} AND e.verified_at > ?1 ${campaign ? 'AND e.campaign_id = ?2' : ''}
GROUP BY r.volunteer_id, hour`;

/** A table's column names, so these standings read the trust columns only where they exist. */
async function columns(db: D1Database, table: 'volunteers' | 'results'): Promise<string[]> {
  const [names] = await db.prepare(`SELECT * FROM ${table} LIMIT 0`).raw<string[]>({ columnNames: true });
  return names ?? [];
}

/** Reputation from the trust tables (volunteers.reputation, −100…100), when the schema has it. */
async function reputations(db: D1Database, ids: string[]): Promise<Map<string, number> | null> {
  if (!ids.length || !(await columns(db, 'volunteers')).includes('reputation')) return null;
  const { results } = await db
    .prepare(`SELECT id, reputation FROM volunteers WHERE id IN (SELECT value FROM json_each(?))`)
    .bind(JSON.stringify(ids))
    .all<{ id: string; reputation: number }>();
  return new Map(results.map((r) => [r.id, r.reputation]));
}

export async function volunteerStandings(db: D1Database, now: number, campaignId?: string): Promise<VolunteerStanding[]> {
  const scoped = campaignId !== undefined;
  const revocable = (await columns(db, 'results')).includes('credit_state');
  const since = now - 8 * RAC_HALF_LIFE_DAYS * DAY_MS;
  const [totals, recent] = await db.batch<Record<string, unknown>>([
    scoped ? db.prepare(VOLUNTEERS_SQL(true, revocable)).bind(campaignId) : db.prepare(VOLUNTEERS_SQL(false, revocable)),
    scoped ? db.prepare(RECENT_SQL(true, revocable)).bind(since, campaignId) : db.prepare(RECENT_SQL(false, revocable)).bind(since),
  ]);
  const rows = totals!.results as unknown as Omit<VolunteerStanding, 'recentAverageCredit' | 'reputation'>[];
  const rep = await reputations(db, rows.map((r) => r.volunteerId));
  const rate = Math.LN2 / RAC_HALF_LIFE_DAYS; // per day
  const rac = new Map<string, number>();
  for (const r of recent!.results as unknown as { volunteerId: string; hour: number; flops: number }[]) {
    const ageDays = (now - (r.hour + 0.5) * HOUR_MS) / DAY_MS;
    rac.set(r.volunteerId, (rac.get(r.volunteerId) ?? 0) + r.flops * rate * Math.exp(-rate * Math.max(0, ageDays)));
  }
  return rows.map((v) => ({
    ...v,
    recentAverageCredit: rac.get(v.volunteerId) ?? 0,
    reputation: rep?.get(v.volunteerId) ?? null,
  }));
}

const CAMPAIGNS_SQL = `
SELECT c.id, c.name, count(e.id) AS experiments,
  coalesce(sum(e.status = 'verified'), 0) AS verified,
  coalesce(sum(e.status = 'disputed'), 0) AS disputed,
  min(CASE WHEN e.status = 'verified' THEN e.val_bpb END) AS bestValBpb,
  (SELECT b.id FROM experiments b WHERE b.campaign_id = c.id AND b.status = 'verified' ORDER BY b.val_bpb, b.idx LIMIT 1) AS bestExperimentId,
  (SELECT count(DISTINCT r.volunteer_id) FROM experiments x JOIN results r ON r.experiment_id = x.id AND r.verdict = 'valid'
     WHERE x.campaign_id = c.id) AS volunteers,
  coalesce(sum(CASE WHEN e.status = 'verified' THEN e.flops END), 0) AS credit,
  max(e.verified_at) AS lastVerifiedAt
FROM campaigns c LEFT JOIN experiments e ON e.campaign_id = c.id
GROUP BY c.id ORDER BY lastVerifiedAt IS NULL, lastVerifiedAt DESC, c.created_at DESC LIMIT ${STANDINGS_LIMIT}`;

export async function campaignStandings(db: D1Database): Promise<CampaignStanding[]> {
  return (await db.prepare(CAMPAIGNS_SQL).all<CampaignStanding>()).results;
}
