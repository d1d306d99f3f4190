// A volunteer's standing as the trust rules see it: reputation, credit (total and recent average),
// results by verdict, and the consecutive-valid count per backend class that sets its replication.
// Read one shard at a time (shardTrust); db/fan-out.ts merges the shards into the one shown.
import type { VolunteerTrust } from '../../../shared/protocol.ts';
import { RAC_HALF_LIFE_DAYS, recentAverageCredit } from './credit.ts';
import { MAX_OPEN_LEASES, replicationProbability } from './policy.ts';
import { ipHash, trustSecrets } from './secrets.ts';

export interface VolunteerRow {
  id: string;
  displayName: string | null;
  createdAt: number;
  reputation: number;
  quota: number;
  creditTotal: number;
  creditDecayed: number;
}

type Counts = VolunteerTrust['results'];
export type ClassRow = Omit<VolunteerTrust['classes'][number], 'replicationProbability'>;

/** What one shard knows of a volunteer: its row there, its results there by verdict, its classes. */
export interface ShardTrust {
  row: VolunteerRow | null;
  results: Counts;
  classes: ClassRow[];
  /** Volunteers of this shard with more credit (asked only where the shard is the whole edge). */
  ahead?: number;
}

/** One shard's view of volunteer `id`, in one batch; `ahead` too when `rank` is asked. */
export async function shardTrust(db: D1Database, id: string, rank: boolean): Promise<ShardTrust> {
  const [v, counts, classes, ahead] = await db.batch([
    db
      .prepare(
        `SELECT id, display_name AS displayName, created_at AS createdAt, reputation, lease_quota AS quota,
         credit_total AS creditTotal, credit_decayed AS creditDecayed FROM volunteers WHERE id = ?`,
      )
      .bind(id),
    db
      .prepare(
        `SELECT sum(verdict = 'valid') AS valid, sum(verdict = 'invalid') AS invalid, sum(verdict = 'pending') AS pending,
         sum(verdict = 'valid' AND basis = 'trusted-single') AS trustedSingle FROM results WHERE volunteer_id = ?`,
      )
      .bind(id),
    db
      .prepare(
        `SELECT backend_class AS backendClass, consecutive_valid AS consecutiveValid, valid, invalid
       FROM volunteer_classes WHERE volunteer_id = ? ORDER BY backend_class`,
      )
      .bind(id),
    ...(rank
      ? [
          db
            .prepare(
              'SELECT count(*) AS n FROM volunteers WHERE credit_total > (SELECT credit_total FROM volunteers WHERE id = ?)',
            )
            .bind(id),
        ]
      : []),
  ]);
  const c = (counts!.results as Record<string, number | null>[])[0] ?? {};
  return {
    row: (v!.results as VolunteerRow[])[0] ?? null,
    results: {
      valid: c.valid ?? 0,
      invalid: c.invalid ?? 0,
      pending: c.pending ?? 0,
      trustedSingle: c.trustedSingle ?? 0,
    },
    classes: classes!.results as ClassRow[],
    ...(ahead ? { ahead: (ahead.results as { n: number }[])[0]?.n ?? 0 } : {}),
  };
}

/** Ids of volunteers whose credit in this shard is at least `floor`, highest first, at most `limit`. */
export async function creditAtLeast(
  db: D1Database,
  floor: number,
  limit: number,
): Promise<string[]> {
  const { results } = await db
    .prepare('SELECT id FROM volunteers WHERE credit_total >= ? ORDER BY credit_total DESC LIMIT ?')
    .bind(floor, limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** The credit in this shard of each named volunteer (one JSON array parameter: D1 binds ≤ 100). */
export async function creditOf(
  db: D1Database,
  ids: string[],
): Promise<{ id: string; credit: number }[]> {
  const { results } = await db
    .prepare(
      'SELECT id, credit_total AS credit FROM volunteers WHERE id IN (SELECT value FROM json_each(?))',
    )
    .bind(JSON.stringify(ids))
    .all<{ id: string; credit: number }>();
  return results;
}

/** A standing as the API shows it, from the merged shard figures (fan-out.ts) and the rank. */
export function shownTrust(
  row: VolunteerRow,
  results: Counts,
  classes: ClassRow[],
  rank: number | null,
  now: number,
): VolunteerTrust {
  return {
    volunteerId: row.id,
    displayName: row.displayName,
    createdAt: row.createdAt,
    reputation: row.reputation,
    openLeaseQuota: Math.min(row.quota, MAX_OPEN_LEASES),
    rank,
    credit: {
      total: Math.max(0, row.creditTotal),
      recentAverage: recentAverageCredit(row.creditDecayed, now),
      halfLifeDays: RAC_HALF_LIFE_DAYS,
    },
    results,
    classes: classes.map((k) => ({
      ...k,
      replicationProbability: replicationProbability(k.consecutiveValid),
    })),
  };
}

/** Records the salted hash of the address a volunteer registered from (first registration only). */
export function recordRegistrationIp(
  db: D1Database,
  volunteerId: string,
  hash: string | null,
): Promise<unknown> | null {
  if (!hash) return null;
  return db
    .prepare('UPDATE volunteers SET ip_hash = ? WHERE id = ? AND ip_hash IS NULL')
    .bind(hash, volunteerId)
    .run();
}

/**
 * Records the salted hash of the address `ip` as the volunteer's registration address in `db`, with
 * that database's own salt (each shard compares only the hashes it made).
 */
export async function recordRegistrationAddress(
  db: D1Database,
  volunteerId: string,
  ip: string | null | undefined,
): Promise<void> {
  if (ip)
    await recordRegistrationIp(db, volunteerId, await ipHash((await trustSecrets(db)).ipSalt, ip));
}
