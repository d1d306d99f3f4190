// Volunteer rows.
import type { SignedVolunteer } from '../env.ts';

export async function findVolunteer(db: D1Database, id: string): Promise<SignedVolunteer | null> {
  return db
    .prepare('SELECT id, public_key AS publicKey FROM volunteers WHERE id = ?')
    .bind(id)
    .first<SignedVolunteer>();
}

/** Inserts once; a second registration of the same key is a no-op that reports `created: false`. */
export async function insertVolunteer(
  db: D1Database,
  v: { id: string; publicKey: string; displayName: string | null; now: number },
): Promise<boolean> {
  const r = await db
    .prepare(
      'INSERT OR IGNORE INTO volunteers (id, public_key, display_name, created_at) VALUES (?, ?, ?, ?)',
    )
    .bind(v.id, v.publicKey, v.displayName, v.now)
    .run();
  return r.meta.changes === 1;
}
