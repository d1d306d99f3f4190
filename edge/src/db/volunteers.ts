// Volunteer rows.
import type { SignedVolunteer } from '../env.ts';

/** Most (volunteer, key) pairs cached per isolate; past it the oldest goes. */
const MAX_CACHED_KEYS = 10_000;

/**
 * Per isolate: (volunteer id, key header) → the key that signs for it. Safe to keep: a volunteer's
 * id is the hash of its registered key, nothing deletes volunteers or linked keys, and keys are only
 * ever added. Only found pairs are cached — a key linked after a miss must work on the next request.
 */
const keyCache = new Map<string, string>();

/**
 * The volunteer and the key its request is signed with: the registered key, or — when `key` names
 * another — one linked to it (an identity moved to another browser).
 */
export async function findVolunteer(
  db: D1Database,
  id: string,
  key?: string,
): Promise<SignedVolunteer | null> {
  const cacheKey = key === undefined ? id : `${id} ${key}`;
  const cached = keyCache.get(cacheKey);
  if (cached !== undefined) return { id, publicKey: cached };
  const found = await lookUpVolunteer(db, id, key);
  if (found) rememberKey(cacheKey, found.publicKey);
  return found;
}

/**
 * Remembers a registration's key in this isolate: the registration proved the key, and the id is
 * its hash, so the volunteer's first signed requests here need no lookup.
 */
export function rememberRegisteredKey(id: string, publicKey: string): void {
  rememberKey(id, publicKey);
  rememberKey(`${id} ${publicKey}`, publicKey); // a request that names its key in the key header
}

function rememberKey(cacheKey: string, publicKey: string): void {
  if (keyCache.size >= MAX_CACHED_KEYS) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(cacheKey, publicKey);
}

async function lookUpVolunteer(
  db: D1Database,
  id: string,
  key?: string,
): Promise<SignedVolunteer | null> {
  const v = await db
    .prepare('SELECT id, public_key AS publicKey FROM volunteers WHERE id = ?')
    .bind(id)
    .first<SignedVolunteer>();
  if (!v || key === undefined || key === v.publicKey) return v;
  return (await keyLinkedTo(db, id, key)) ? { id, publicKey: key } : null;
}

/** Links a new key; false when the key already belongs to someone or the volunteer has too many. */
export async function linkKey(
  db: D1Database,
  volunteerId: string,
  publicKey: string,
  maxKeys: number,
  now: number,
): Promise<boolean> {
  const r = await db
    .prepare(
      `INSERT OR IGNORE INTO volunteer_keys (public_key, volunteer_id, created_at)
       SELECT ?1, ?2, ?3
       WHERE NOT EXISTS (SELECT 1 FROM volunteers WHERE public_key = ?1)
         AND (SELECT count(*) FROM volunteer_keys WHERE volunteer_id = ?2) < ?4 - 1`,
    )
    .bind(publicKey, volunteerId, now, maxKeys)
    .run();
  return r.meta.changes === 1;
}

/** Whether `publicKey` is linked to `volunteerId` (a retried link). */
export async function keyLinkedTo(
  db: D1Database,
  volunteerId: string,
  publicKey: string,
): Promise<boolean> {
  const row = await db
    .prepare('SELECT 1 FROM volunteer_keys WHERE public_key = ? AND volunteer_id = ?')
    .bind(publicKey, volunteerId)
    .first();
  return row !== null;
}

/**
 * Copies a volunteer's row from shard 0 into another shard (shards.ts) where it is missing: a
 * registration whose copies failed part-way. Returns whether the volunteer exists in `shard` now.
 */
export async function copyVolunteer(
  home: D1Database,
  shard: D1Database,
  id: string,
): Promise<boolean> {
  const v = await home
    .prepare(
      'SELECT id, public_key AS publicKey, display_name AS displayName, created_at AS now, registered_ts AS timestamp FROM volunteers WHERE id = ?',
    )
    .bind(id)
    .first<{
      id: string;
      publicKey: string;
      displayName: string | null;
      now: number;
      timestamp: number | null;
    }>();
  if (!v) return false;
  await insertVolunteer(shard, { ...v, timestamp: v.timestamp ?? 0 });
  return true;
}

/**
 * Inserts once; a second registration of the same key reports `created: false` and, when it names
 * one, sets the display name (the registration is signed by the key, so only its owner can) —
 * only if it is newer than the last one applied, so a replayed old registration changes nothing.
 */
export async function insertVolunteer(
  db: D1Database,
  v: { id: string; publicKey: string; displayName: string | null; now: number; timestamp: number },
): Promise<boolean> {
  const [inserted] = await db.batch([
    db
      // A key already linked to another volunteer is that volunteer's: it never becomes a second one.
      .prepare(
        `INSERT OR IGNORE INTO volunteers (id, public_key, display_name, created_at, registered_ts)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM volunteer_keys WHERE public_key = ?2)`,
      )
      .bind(v.id, v.publicKey, v.displayName, v.now, v.timestamp),
    db
      .prepare(
        `UPDATE volunteers SET display_name = ?1, registered_ts = ?3
         WHERE id = ?2 AND ?1 IS NOT NULL AND display_name IS NOT ?1 AND (registered_ts IS NULL OR registered_ts < ?3)`,
      )
      .bind(v.displayName, v.id, v.timestamp),
  ]);
  return inserted!.meta.changes === 1;
}

export async function volunteerExists(db: D1Database, id: string): Promise<boolean> {
  return (await db.prepare('SELECT 1 FROM volunteers WHERE id = ?').bind(id).first()) !== null;
}
