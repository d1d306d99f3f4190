// Standings: volunteers by credit (the FLOPs of the experiments their results helped verify,
// edge/src/trust/credit.ts) and campaigns by progress, across the whole edge or within one campaign.
// Across the edge, credit, recent-average credit and reputation are the trust ledger's own
// (volunteers.credit_total / credit_decayed / reputation, 0004_trust.sql, edge/src/trust/credit.ts),
// read here one shard at a time and merged across shards by fan-out.ts.
// The ledger keeps no per-campaign totals, so within a campaign they are summed from its agreeing
// results, leaving out credit the ledger revoked.
import type { CampaignStanding, VolunteerStanding } from '../../../shared/protocol.ts';
import { RAC_HALF_LIFE_DAYS, recentAverageCredit } from '../trust/credit.ts';

export { RAC_HALF_LIFE_DAYS };
export const STANDINGS_LIMIT = 1_000;
const DAY_MS = 86_400_000;

// A volunteer's figures in one shard; the counts come from results_trust_by_volunteer. Every shard
// has a row for every volunteer, so the merge across shards (fan-out.ts) sums these per volunteer.
const VOLUNTEER_SQL = `
SELECT v.id AS volunteerId, v.display_name AS displayName, v.credit_total AS credit, v.credit_decayed AS creditDecayed,
  v.reputation,
  (SELECT count(*) FROM results r WHERE r.volunteer_id = v.id AND r.verdict = 'valid') AS verifiedExperiments,
  (SELECT count(*) FROM results r WHERE r.volunteer_id = v.id AND r.verdict = 'invalid') AS rejectedResults
FROM volunteers v`;
// Everyone with credit or a decided result in the shard.
const ACTIVE = `(v.credit_total > 0 OR EXISTS (SELECT 1 FROM results r WHERE r.volunteer_id = v.id AND r.verdict IN ('valid', 'invalid')))`;
const GLOBAL_SQL = `${VOLUNTEER_SQL} WHERE ${ACTIVE}
ORDER BY v.credit_total DESC, verifiedExperiments DESC, v.id LIMIT ${STANDINGS_LIMIT}`;
// The same rows for named volunteers (by primary key; one JSON array parameter, since D1 binds at
// most 100 parameters a statement).
const NAMED_SQL = `${VOLUNTEER_SQL} WHERE v.id IN (SELECT value FROM json_each(?1)) AND ${ACTIVE}`;

// Within one campaign: agreeing (valid) and outvoted (invalid) results; pending ones count for
// nothing yet.
const CAMPAIGN_SQL = `
SELECT r.volunteer_id AS volunteerId, v.display_name AS displayName, v.reputation,
  sum(CASE WHEN r.verdict = 'valid' AND r.credit_state != 'revoked' THEN e.flops ELSE 0 END) AS credit,
  sum(r.verdict = 'valid') AS verifiedExperiments,
  sum(r.verdict = 'invalid') AS rejectedResults
FROM experiments e JOIN results r ON r.experiment_id = e.id JOIN volunteers v ON v.id = r.volunteer_id
WHERE e.campaign_id = ?1 AND r.verdict IN ('valid', 'invalid')
GROUP BY r.volunteer_id ORDER BY credit DESC, verifiedExperiments DESC, r.volunteer_id LIMIT ${STANDINGS_LIMIT}`;

// The campaign's grants per volunteer and verification time over the last eight half-lives (older
// weigh < 0.4 %), each aged exactly: binning by hour made ages up to 30 minutes wrong.
const CAMPAIGN_RECENT_SQL = `
SELECT r.volunteer_id AS volunteerId, e.verified_at AS at, sum(e.flops) AS flops
FROM experiments e JOIN results r ON r.experiment_id = e.id
WHERE e.campaign_id = ?1 AND e.verified_at > ?2 AND r.verdict = 'valid' AND r.credit_state != 'revoked'
GROUP BY r.volunteer_id, e.verified_at`;

type Totals = Omit<VolunteerStanding, 'recentAverageCredit'>;

/** One shard's standing of a volunteer: raw credit (may be a hair below 0 after a revocation). */
export type ShardStanding = Totals & { creditDecayed: number; reputation: number };

/** One shard's first STANDINGS_LIMIT volunteers by credit, then verified experiments, then id. */
export async function shardVolunteerStandings(db: D1Database): Promise<ShardStanding[]> {
  return (await db.prepare(GLOBAL_SQL).all<ShardStanding>()).results;
}

/** The rows of the named volunteers that have credit or a decided result in this shard. */
export async function namedVolunteerStandings(
  db: D1Database,
  ids: string[],
): Promise<ShardStanding[]> {
  return (await db.prepare(NAMED_SQL).bind(JSON.stringify(ids)).all<ShardStanding>()).results;
}

/** A standing as the API shows it: credit clamped at 0, the recent average decayed to `now`. */
export function shownStanding(
  { creditDecayed, ...v }: ShardStanding,
  now: number,
): VolunteerStanding {
  return {
    ...v,
    credit: Math.max(0, v.credit),
    recentAverageCredit: recentAverageCredit(creditDecayed, now),
  };
}

/** Volunteers within one campaign by the credit its verified experiments granted them. */
export async function volunteerStandings(
  db: D1Database,
  now: number,
  campaignId: string,
): Promise<VolunteerStanding[]> {
  const since = now - 8 * RAC_HALF_LIFE_DAYS * DAY_MS;
  const [totals, recent] = await db.batch<Record<string, unknown>>([
    db.prepare(CAMPAIGN_SQL).bind(campaignId),
    db.prepare(CAMPAIGN_RECENT_SQL).bind(campaignId, since),
  ]);
  // The same average as the ledger's (credit.ts), summed from this campaign's grants.
  const rate = Math.LN2 / RAC_HALF_LIFE_DAYS; // per day
  const rac = new Map<string, number>();
  for (const r of recent!.results as unknown as {
    volunteerId: string;
    at: number;
    flops: number;
  }[]) {
    const ageDays = Math.max(0, (now - r.at) / DAY_MS);
    rac.set(
      r.volunteerId,
      (rac.get(r.volunteerId) ?? 0) + r.flops * rate * 2 ** (-ageDays / RAC_HALF_LIFE_DAYS),
    );
  }
  return (totals!.results as unknown as Totals[]).map((v) => ({
    ...v,
    recentAverageCredit: rac.get(v.volunteerId) ?? 0,
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
  max(e.verified_at) AS lastVerifiedAt, c.created_at AS createdAt
FROM campaigns c LEFT JOIN experiments e ON e.campaign_id = c.id
GROUP BY c.id ORDER BY lastVerifiedAt IS NULL, lastVerifiedAt DESC, c.created_at DESC LIMIT ${STANDINGS_LIMIT}`;

/** One shard's first STANDINGS_LIMIT campaigns by progress, with createdAt for the merge's order. */
export async function shardCampaignStandings(
  db: D1Database,
): Promise<(CampaignStanding & { createdAt: number })[]> {
  return (await db.prepare(CAMPAIGNS_SQL).all<CampaignStanding & { createdAt: number }>()).results;
}
