// Segments in R2 and their index in D1: a segment is put under its content hash (a re-run puts the
// same bytes under the same key, so nothing is ever overwritten with other data), and read back
// only through its recorded hash, which decodeSegment checks.
import { fail } from '../errors.ts';
import {
  decodeSegment,
  encodeSegment,
  SegmentError,
  segmentKey,
  type EncodedSegment,
} from './segment.ts';

/** Puts a segment unless it is already there; R2 checks the bytes against the SHA-256 on the way in. */
export async function putSegment(bucket: R2Bucket, s: EncodedSegment): Promise<void> {
  const key = segmentKey(s.sha256);
  if (await bucket.head(key)) return;
  await bucket.put(key, s.bytes, {
    sha256: s.sha256,
    httpMetadata: { contentType: 'application/x-ndjson', contentEncoding: 'gzip' },
  });
}

/** A segment's rows; a missing or altered segment answers 503 archive_corrupt (nothing is served from it). */
export async function readSegment<T>(bucket: R2Bucket, sha256: string): Promise<T[]> {
  const object = await bucket.get(segmentKey(sha256));
  if (!object) fail(503, 'archive_corrupt', `Archive segment ${sha256} is missing from R2.`);
  try {
    return await decodeSegment<T>(new Uint8Array(await object.arrayBuffer()), sha256);
  } catch (e) {
    if (e instanceof SegmentError) fail(503, 'archive_corrupt', `Archive ${e.message}.`);
    throw e;
  }
}

/** The index row of a segment: what it holds, where it sits, and its size. */
export interface SegmentRecord {
  sha256: string;
  kind: 'results' | 'ledger';
  campaignId?: string;
  first?: { at: number; id: string };
  last?: { at: number; id: string };
  firstSeq?: number;
  lastSeq?: number;
  prevHash?: string;
  headHash?: string;
  rows: number;
  bytes: number;
}

/** Records a segment (once: a re-run that finds the same hash changes nothing). */
export function recordSegment(db: D1Database, r: SegmentRecord, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO archive_segments (sha256, kind, campaign_id, first_at, first_id, last_at, last_id,
         first_seq, last_seq, prev_hash, head_hash, rows, bytes, created_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`,
    )
    .bind(
      r.sha256,
      r.kind,
      r.campaignId ?? null,
      r.first?.at ?? null,
      r.first?.id ?? null,
      r.last?.at ?? null,
      r.last?.id ?? null,
      r.firstSeq ?? null,
      r.lastSeq ?? null,
      r.prevHash ?? null,
      r.headHash ?? null,
      r.rows,
      r.bytes,
      now,
    );
}

/**
 * The archive's one order of steps: the rows go into a segment, the segment into R2, and only then
 * does one D1 batch record it and run `release` (which slims or deletes exactly those rows). A crash
 * before the batch leaves D1 as it was; the re-run builds the same bytes under the same key.
 */
export async function archiveRows(
  db: D1Database,
  bucket: R2Bucket,
  rows: object[],
  record: Omit<SegmentRecord, 'sha256' | 'rows' | 'bytes'>,
  release: (sha256: string) => D1PreparedStatement,
  now: number,
): Promise<void> {
  const segment = await encodeSegment(rows);
  await putSegment(bucket, segment);
  await db.batch([
    recordSegment(
      db,
      { ...record, sha256: segment.sha256, rows: segment.rows, bytes: segment.bytes.byteLength },
      now,
    ),
    release(segment.sha256),
  ]);
}
