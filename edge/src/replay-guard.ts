// The replay guard's statements, written once: a signed request's signature hash is recorded when
// the request is first received, and entries older than twice the clock-skew window go (a request
// that old is refused as stale anyway). auth.ts runs them in a route's first batch; the campaign
// queue runs them in its claim cycle's read batch for the lease requests it serves.
import { MAX_CLOCK_SKEW_MS } from '../../shared/protocol.ts';

/** Records a signature once: a second insert fails on the key (auth.ts guardedBatch). */
export const guardInsert = (db: D1Database, signatureHash: string, now: number) =>
  db
    .prepare('INSERT INTO seen_requests (signature_hash, seen_at) VALUES (?, ?)')
    .bind(signatureHash, now);

/** Records a signature once: meta.changes is 0 for a replay, and nothing fails (a shared batch). */
export const guardInsertOrIgnore = (db: D1Database, signatureHash: string, now: number) =>
  db
    .prepare('INSERT OR IGNORE INTO seen_requests (signature_hash, seen_at) VALUES (?, ?)')
    .bind(signatureHash, now);

export const guardExpiry = (db: D1Database, now: number) =>
  db.prepare('DELETE FROM seen_requests WHERE seen_at < ?').bind(now - 2 * MAX_CLOCK_SKEW_MS);

/** What a lease request's claim answers when the queue found its signature already recorded. */
export const REPLAYED = 'replayed';
