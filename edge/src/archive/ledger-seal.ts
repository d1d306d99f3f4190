// The ledger's sealed prefix to R2: entries older than ARCHIVE_GRACE_MS, never the head (D1 must
// keep one entry to chain the next append onto), go into segments of at most LEDGER_SEGMENT_ENTRIES,
// each recorded with its first and last seq, the hash before it and the hash it ends on. Only after
// the put does one batch record the segment and delete its entries (migration 0018 lets the ledger's
// delete guard pass exactly the recorded seqs). GET /api/ledger serves them back (ledger-pages.ts).
import { GENESIS_HASH, LEDGER_HEAD_SQL } from '../../../shared/ledger.ts';
import { ARCHIVE_GRACE_MS } from './campaigns.ts';
import type { ArchivedEntry } from './segment.ts';
import { archiveRows } from './store.ts';

/** ~0.4 kB an entry (docs/scale.md): about 400 kB of JSON, 100 kB gzipped, per segment. */
export const LEDGER_SEGMENT_ENTRIES = 1000;

/** The sealed prefix's end: the last archived seq and its hash (0 and the genesis hash when none). */
export const SEALED_SQL = `SELECT last_seq AS seq, head_hash AS hash FROM archive_segments
  WHERE kind = 'ledger' AND last_seq = (SELECT max(last_seq) FROM archive_segments WHERE kind = 'ledger')`;

/** Seals up to `maxSegments` segments; returns how many entries left D1. */
export async function sealLedger(
  db: D1Database,
  bucket: R2Bucket,
  now: number,
  maxSegments: number,
): Promise<number> {
  let moved = 0;
  for (let n = 0; n < maxSegments; n++) {
    const [sealedRes, headRes] = await db.batch<{ seq: number; hash: string }>([
      db.prepare(SEALED_SQL),
      db.prepare(LEDGER_HEAD_SQL),
    ]);
    const sealed = sealedRes!.results[0] ?? { seq: 0, hash: GENESIS_HASH };
    const head = headRes!.results[0];
    if (!head) return moved;
    const { results } = await db
      .prepare(
        `SELECT seq, key, kind, experiment_id AS experimentId, result_id AS resultId, volunteer_id AS volunteerId,
           entry, prev_hash AS prevHash, hash, created_at AS createdAt
         FROM ledger WHERE seq > ?1 AND seq < ?2 ORDER BY seq LIMIT ${LEDGER_SEGMENT_ENTRIES}`,
      )
      .bind(sealed.seq, head.seq)
      .all<ArchivedEntry>();
    const cut = results.findIndex((r) => r.createdAt >= now - ARCHIVE_GRACE_MS);
    const rows = cut < 0 ? results : results.slice(0, cut);
    const first = rows[0];
    const last = rows.at(-1);
    if (!first || !last) return moved;
    // The prefix must continue the sealed one exactly; anything else is left for ledger:verify to name.
    if (first.seq !== sealed.seq + 1 || first.prevHash !== sealed.hash)
      throw new Error(
        `ledger entry ${first.seq} does not continue the sealed prefix at ${sealed.seq}`,
      );
    if (
      rows.some(
        (r, i) => i > 0 && (r.seq !== rows[i - 1]!.seq + 1 || r.prevHash !== rows[i - 1]!.hash),
      )
    )
      throw new Error(`ledger entries ${first.seq}..${last.seq} are not one chain`);
    await archiveRows(
      db,
      bucket,
      rows,
      {
        kind: 'ledger',
        firstSeq: first.seq,
        lastSeq: last.seq,
        prevHash: first.prevHash,
        headHash: last.hash,
      },
      () => db.prepare('DELETE FROM ledger WHERE seq BETWEEN ? AND ?').bind(first.seq, last.seq),
      now,
    );
    moved += rows.length;
  }
  return moved;
}
