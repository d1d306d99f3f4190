// GET /api/ledger across the sealed prefix: a page that starts inside an archived segment is served
// from that segment (its hash checked on every read), the rest from D1. The route answers the same
// pages as before archiving, so every client of it — ledger:verify --url, a third party's own
// checker — verifies from seq 1 unchanged; the chain itself is the proof, not the archive's word.
import type { LedgerPage } from '../../../shared/ledger.ts';
import type { ArchivedEntry } from './segment.ts';
import { readSegment } from './store.ts';

/** The archived segment holding seq `after + 1`, read in the same batch as the D1 page. */
export const SEGMENT_AFTER_SQL = `SELECT sha256, first_seq AS firstSeq, last_seq AS lastSeq FROM archive_segments
  WHERE kind = 'ledger' AND last_seq > ? ORDER BY last_seq LIMIT 1`;

export interface SegmentRef {
  sha256: string;
  firstSeq: number;
  lastSeq: number;
}

/** Up to `limit` entries after `after` from an archived segment. */
export async function archivedEntries(
  bucket: R2Bucket,
  segment: SegmentRef,
  after: number,
  limit: number,
): Promise<LedgerPage['entries']> {
  const rows = await readSegment<ArchivedEntry>(bucket, segment.sha256);
  return rows
    .filter((r) => r.seq > after)
    .slice(0, limit)
    .map(({ seq, prevHash, hash, entry }) => ({ seq, prevHash, hash, entry }));
}
