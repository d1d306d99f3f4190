// Table snapshots: the row count and a content hash of every table in D1, so a test can prove that
// a refused request changed nothing. Tables are read from sqlite_master, so a new migration's
// table is watched without touching this file.
import { env } from 'cloudflare:test';
import { sha256 } from '../../shared/crypto.ts';

/**
 * The replay guard's memory (edge/src/auth.ts): a request whose signature verified is recorded
 * here once, before its route runs, so that it cannot be replayed even when the route refuses it.
 */
export const REPLAY_GUARD_TABLE = 'seen_requests';

export interface TableState {
  rows: number;
  sha256: string; // of the JSON of every row in rowid order
}
export type Snapshot = Record<string, TableState>;

/** Every table the app owns: not SQLite's, D1's migration log, or Cloudflare's `_cf_*` tables. */
export async function tableNames(db: D1Database = env.DB): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name != 'd1_migrations' ORDER BY name`,
    )
    .all<{ name: string }>();
  return results.map((r) => r.name);
}

/** Row count and content hash of every table, the replay guard's included. */
export async function tableSnapshot(db: D1Database = env.DB): Promise<Snapshot> {
  const names = await tableNames(db);
  // One batch: a single round trip, and one transaction, so the tables are read at one instant.
  // Names come from sqlite_master, not from a request; quoted because a name could be a keyword.
  const reads = await db.batch(
    names.map((name) => db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`)),
  );
  const out: Snapshot = {};
  for (const [i, name] of names.entries()) {
    const rows = reads[i]!.results;
    out[name] = { rows: rows.length, sha256: await sha256(JSON.stringify(rows, bytesAsHex)) };
  }
  return out;
}

/** The state a request can change: every table but the replay guard's. */
export function withoutReplayGuard(s: Snapshot): Snapshot {
  const { [REPLAY_GUARD_TABLE]: _guard, ...state } = s;
  return state;
}

// BLOB columns arrive as ArrayBuffers, which JSON.stringify would flatten to {}.
function bytesAsHex(_key: string, value: unknown): unknown {
  if (value instanceof ArrayBuffer)
    return [...new Uint8Array(value)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return value;
}
