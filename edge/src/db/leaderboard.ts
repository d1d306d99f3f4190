// Reading verified experiments: a campaign's leaderboard (all of it, or one row for a live
// update) and the mean loss curves of its leaders.
import type {
  Backend,
  ExperimentCurve,
  LeaderboardEntry,
  Metrics,
} from '../../../shared/protocol.ts';
import type { ExperimentSpec } from '../../../shared/spec.ts';

/** Rows a leaderboard returns at most: the page virtualises them, 10,000 stay smooth. */
export const LEADERBOARD_LIMIT = 10_000;

const ENTRY_SQL = `
SELECT e.id AS experimentId, e.idx, e.val_bpb AS valBpb, e.spec_json AS specJson, e.verified_at AS verifiedAt,
  group_concat(DISTINCT r.backend) AS backends, group_concat(DISTINCT r.volunteer_id) AS volunteers,
  (SELECT group_concat(DISTINCT l.browser) FROM results y JOIN leases l ON l.id = y.lease_id
    WHERE y.experiment_id = e.id AND y.verdict = 'valid') AS engines,
  count(r.id) AS replicas, max(r.val_bpb) - min(r.val_bpb) AS spread,
  avg(json_extract(r.metrics_json, '$.wallMs')) AS wallMs,
  (SELECT count(*) FROM results x WHERE x.experiment_id = e.id) AS results
FROM experiments e JOIN results r ON r.experiment_id = e.id AND r.verdict = 'valid'`;

interface EntrySqlRow {
  experimentId: string;
  idx: number;
  valBpb: number;
  specJson: string;
  verifiedAt: number;
  backends: string;
  engines: string | null;
  volunteers: string;
  replicas: number;
  spread: number;
  wallMs: number;
  results: number;
}

function toEntry(r: EntrySqlRow): LeaderboardEntry {
  return {
    experimentId: r.experimentId,
    idx: r.idx,
    valBpb: r.valBpb,
    config: JSON.parse(r.specJson) as ExperimentSpec,
    verified: true,
    replicas: r.replicas,
    backends: r.backends.split(',') as Backend[],
    engines: r.engines ? r.engines.split(',') : [],
    volunteers: r.volunteers.split(','),
    verifiedAt: r.verifiedAt,
    spread: r.spread,
    results: r.results,
    wallMs: r.wallMs,
  };
}

/** A campaign's verified experiments, best (lowest val_bpb) first. */
export async function leaderboard(db: D1Database, campaignId: string): Promise<LeaderboardEntry[]> {
  const { results } = await db
    .prepare(
      `${ENTRY_SQL} WHERE e.campaign_id = ? AND e.status = 'verified'
      GROUP BY e.id ORDER BY e.val_bpb ASC, e.idx ASC LIMIT ${LEADERBOARD_LIMIT}`,
    )
    .bind(campaignId)
    .all<EntrySqlRow>();
  return results.map(toEntry);
}

/** One verified experiment's leaderboard row, or null when it is not verified. */
export async function leaderboardEntry(
  db: D1Database,
  experimentId: string,
): Promise<LeaderboardEntry | null> {
  return entryOf(await entryStatement(db, experimentId).all());
}

/** leaderboardEntry's read, to ride in another batch; entryOf reads its result. */
export function entryStatement(db: D1Database, experimentId: string): D1PreparedStatement {
  return db
    .prepare(`${ENTRY_SQL} WHERE e.id = ? AND e.status = 'verified' GROUP BY e.id`)
    .bind(experimentId);
}

export function entryOf(read: D1Result | undefined): LeaderboardEntry | null {
  const row = (read?.results ?? [])[0] as EntrySqlRow | undefined;
  return row ? toEntry(row) : null;
}

/** Element-wise mean of equally long curves (replicas of one spec have the same length). */
export function meanCurve(curves: number[][]): number[] {
  const n = Math.min(...curves.map((c) => c.length));
  return Array.from({ length: n }, (_, i) => curves.reduce((a, c) => a + c[i]!, 0) / curves.length);
}

interface CurveSqlRow {
  experimentId: string;
  valBpb: number;
  curveEvery: number;
  metricsJson: string;
}

function toCurves(rows: CurveSqlRow[]): ExperimentCurve[] {
  const by = new Map<string, { row: CurveSqlRow; curves: number[][] }>();
  for (const row of rows) {
    const entry = by.get(row.experimentId) ?? { row, curves: [] };
    entry.curves.push((JSON.parse(row.metricsJson) as Metrics).curve);
    by.set(row.experimentId, entry);
  }
  return [...by.values()].map(({ row, curves }) => ({
    experimentId: row.experimentId,
    valBpb: row.valBpb,
    curveEvery: row.curveEvery,
    curve: meanCurve(curves),
  }));
}

const CURVE_COLUMNS = `r.experiment_id AS experimentId, e.val_bpb AS valBpb,
  json_extract(e.spec_json, '$.train.curveEvery') AS curveEvery, r.metrics_json AS metricsJson`;

/** Mean loss curves of the `top` best verified experiments of a campaign, best first. */
export async function leaderCurves(
  db: D1Database,
  campaignId: string,
  top: number,
): Promise<ExperimentCurve[]> {
  const { results } = await db
    .prepare(
      `SELECT ${CURVE_COLUMNS}
      FROM (SELECT id, idx, val_bpb, spec_json FROM experiments WHERE campaign_id = ? AND status = 'verified'
            ORDER BY val_bpb, idx LIMIT ?) e
      JOIN results r ON r.experiment_id = e.id AND r.verdict = 'valid'
      ORDER BY e.val_bpb, e.idx, r.created_at`,
    )
    .bind(campaignId, top)
    .all<CurveSqlRow>();
  return toCurves(results);
}

/** The mean loss curve of one verified experiment. */
export async function experimentCurve(
  db: D1Database,
  experimentId: string,
): Promise<ExperimentCurve | null> {
  return curveOf(await curveStatement(db, experimentId).all());
}

/** experimentCurve's read, to ride in another batch; curveOf reads its result. */
export function curveStatement(db: D1Database, experimentId: string): D1PreparedStatement {
  return db
    .prepare(
      `SELECT ${CURVE_COLUMNS} FROM experiments e JOIN results r ON r.experiment_id = e.id AND r.verdict = 'valid'
      WHERE e.id = ? AND e.status = 'verified' ORDER BY r.created_at`,
    )
    .bind(experimentId);
}

export function curveOf(read: D1Result | undefined): ExperimentCurve | null {
  return toCurves((read?.results ?? []) as CurveSqlRow[])[0] ?? null;
}
