// Volunteer rows.
import type { SignedVolunteer } from '../env.ts';

export async function findVolunteer(db: D1Database, id: string): Promise<SignedVolunteer | null> {
  return db
    .prepare('SELECT id, public_key AS publicKey FROM volunteers WHERE id = ?')
    .bind(id)
    .first<SignedVolunteer>();
}

/**
 * Inserts once; a second registration of the same key reports `created: false` and, when it names
 * one, sets the display name (the registration is signed by the key, so only its owner can).
 */
export async function insertVolunteer(
  db: D1Database,
  v: { id: string; publicKey: string; displayName: string | null; now: number },
): Promise<boolean> {
  const [inserted] = await db.batch([
    db
      .prepare('INSERT OR IGNORE INTO volunteers (id, public_key, display_name, created_at) VALUES (?, ?, ?, ?)')
      .bind(v.id, v.publicKey, v.displayName, v.now),
    db
      .prepare('UPDATE volunteers SET display_name = ?1 WHERE id = ?2 AND ?1 IS NOT NULL AND display_name IS NOT ?1')
      .bind(v.displayName, v.id),
  ]);
  return inserted!.meta.changes === 1;
}
