// Cold rows of finished campaigns to R2. A campaign is finished when no experiment is open, none
// settled within ARCHIVE_GRACE_MS, and no spot check or final checkpoint of it is still awaited.
// Its experiments are taken in (verified_at, id) order, CHUNK_EXPERIMENTS at a time; per chunk the
// full rows of their results go into one segment, and then, in one D1 batch, the segment is
// recorded and each result keeps only what hot readers use (docs/scale.md, "Storage with a bound").
// A crash between the R2 put and the batch leaves the rows as they were: the next run rebuilds the
// same segment (same hash, same key) and finishes the chunk.
import { archiveRows } from './store.ts';

/** A week after it settles, past every lease (≤ 2 h) and reveal window, a campaign is final. */
export const ARCHIVE_GRACE_MS = 7 * 24 * 60 * 60 * 1000;

/** Experiments per segment: the corpus's largest page, so a page reads ≤ 2 per campaign. */
export const CHUNK_EXPERIMENTS = 500;

/** An archived result row points at its segment; the corpus reads the full row from there. */
export const ARCHIVED_PAYLOAD_PREFIX = 'archive:';

const FINISHED_SQL = `SELECT c.id FROM campaigns c
WHERE c.archived_at IS NULL
  AND EXISTS (SELECT 1 FROM experiments e WHERE e.campaign_id = c.id)
  AND NOT EXISTS (SELECT 1 FROM experiments e WHERE e.campaign_id = c.id AND (e.status = 'open' OR coalesce(e.verified_at, 0) > ?1))
  AND NOT EXISTS (SELECT 1 FROM spot_checks s JOIN experiments e ON e.id = s.experiment_id
    WHERE e.campaign_id = c.id AND s.status IN ('awaiting-reveal', 'open', 'leased'))
  AND NOT EXISTS (SELECT 1 FROM final_checkpoints f JOIN experiments e ON e.id = f.experiment_id
    WHERE e.campaign_id = c.id AND f.status = 'awaiting')
ORDER BY c.created_at, c.id LIMIT 1`;

// The chunk after (?2, ?3) in the campaign's (verified_at, id) order; disputed experiments sort at 0.
const CHUNK_SQL = `SELECT id, coalesce(verified_at, 0) AS at FROM experiments
  WHERE campaign_id = ?1 AND (coalesce(verified_at, 0), id) > (?2, ?3)
  ORDER BY coalesce(verified_at, 0), id LIMIT ${CHUNK_EXPERIMENTS}`;

const IN_CHUNK = `SELECT id FROM experiments WHERE campaign_id = ?1
  AND (coalesce(verified_at, 0), id) >= (?2, ?3) AND (coalesce(verified_at, 0), id) <= (?4, ?5)`;

/** Every column of results, as stored: the segment is the record, D1 keeps a summary. */
const RESULT_COLUMNS = `id, lease_id, experiment_id, volunteer_id, backend, val_bpb, metrics_json, payload_json,
  signature, created_at, verdict, basis, credit_state, credited_at`;

export interface ResultRow {
  id: string;
  lease_id: string;
  experiment_id: string;
  volunteer_id: string;
  backend: string;
  val_bpb: number;
  metrics_json: string;
  payload_json: string;
  signature: string;
  created_at: number;
  verdict: string;
  basis: string | null;
  credit_state: string;
  credited_at: number | null;
}

/** The oldest finished campaign not yet archived, or null. */
export async function finishedCampaign(db: D1Database, now: number): Promise<string | null> {
  return (
    (
      await db
        .prepare(FINISHED_SQL)
        .bind(now - ARCHIVE_GRACE_MS)
        .first<{ id: string }>()
    )?.id ?? null
  );
}

/**
 * Archives up to `maxChunks` chunks of the campaign; true once all of it is archived. The put
 * happens before the batch, so R2 holds every row before D1 lets go of any.
 */
export async function archiveCampaign(
  db: D1Database,
  bucket: R2Bucket,
  campaignId: string,
  now: number,
  maxChunks: number,
): Promise<boolean> {
  for (let n = 0; n < maxChunks; n++) {
    const last = await db
      .prepare(
        `SELECT last_at AS at, last_id AS id FROM archive_segments WHERE kind = 'results' AND campaign_id = ?
         ORDER BY last_at DESC, last_id DESC LIMIT 1`,
      )
      .bind(campaignId)
      .first<{ at: number; id: string }>();
    const { results: chunk } = await db
      .prepare(CHUNK_SQL)
      .bind(campaignId, last?.at ?? -1, last?.id ?? '')
      .all<{ id: string; at: number }>();
    const first = chunk[0];
    const end = chunk.at(-1);
    if (!first || !end) {
      await db
        .prepare('UPDATE campaigns SET archived_at = ? WHERE id = ?')
        .bind(now, campaignId)
        .run();
      return true;
    }
    const range = [campaignId, first.at, first.id, end.at, end.id];
    const { results: rows } = await db
      .prepare(
        `SELECT ${RESULT_COLUMNS} FROM results WHERE experiment_id IN (${IN_CHUNK})
           AND payload_json NOT LIKE '${ARCHIVED_PAYLOAD_PREFIX}%'`,
      )
      .bind(...range)
      .all<ResultRow>();
    const order = new Map(chunk.map((e, i) => [e.id, i]));
    rows.sort(
      (a, b) =>
        order.get(a.experiment_id)! - order.get(b.experiment_id)! ||
        a.created_at - b.created_at ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    // Exactly the rows in the segment (their ids as one JSON parameter: D1 binds at most 100).
    // What stays: every column the leaderboards, standings and pages read; the metrics lose their
    // checkpoint commitments (read only while an experiment or its spot checks are open). The rows
    // also move to the end of the table (new rowids, same ids: nothing refers to a rowid), so the
    // pages they leave go to SQLite's free list and new rows reuse them; shrunk in place they would
    // leave holes in every page that only a VACUUM gives back (bench:archive).
    const slim = (sha256: string) =>
      db
        .prepare(
          `UPDATE results SET metrics_json = json_remove(metrics_json, '$.commitments'),
             payload_json = ?2, signature = '',
             rowid = rowid - (SELECT min(rowid) FROM results WHERE id IN (SELECT value FROM json_each(?1)))
               + (SELECT max(rowid) FROM results) + 1
           WHERE id IN (SELECT value FROM json_each(?1)) AND payload_json NOT LIKE '${ARCHIVED_PAYLOAD_PREFIX}%'`,
        )
        .bind(JSON.stringify(rows.map((r) => r.id)), ARCHIVED_PAYLOAD_PREFIX + sha256);
    const record = {
      kind: 'results' as const,
      campaignId,
      first: { at: first.at, id: first.id },
      last: { at: end.at, id: end.id },
    };
    await archiveRows(db, bucket, rows, record, slim, now);
  }
  return false;
}
