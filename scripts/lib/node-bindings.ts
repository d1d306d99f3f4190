// D1 and R2 bindings for Node: a node:sqlite database behind the D1 calls the archive code makes
// (prepare, bind, first, all, run, batch as one transaction), and a directory behind the R2 calls
// (head, get, put). bench:archive runs the edge's own archiver on a preloaded database with them.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';

type Row = Record<string, unknown>;

function statement(
  db: DatabaseSync,
  sql: string,
  params: SQLInputValue[] = [],
): D1PreparedStatement {
  const exec = (): D1Result<Row> => {
    const s = db.prepare(sql);
    if (s.columns().length === 0) {
      const { changes } = s.run(...params);
      return { results: [], meta: { changes: Number(changes) } };
    }
    return { results: s.all(...params) as Row[], meta: { changes: 0 } };
  };
  return {
    bind: (...values: unknown[]) => statement(db, sql, values as SQLInputValue[]),
    first: async <T>(column?: string) => {
      const row = exec().results[0];
      return (row === undefined ? null : column ? row[column] : row) as T | null;
    },
    all: async <T>() => exec() as unknown as D1Result<T>,
    run: async () => exec(),
    // The batch runs the statement itself (exec), so a batch can roll back as D1's does.
    exec,
  } as D1PreparedStatement & { exec: () => D1Result<Row> };
}

export function d1OverSqlite(db: DatabaseSync): D1Database {
  return {
    prepare: (sql: string) => statement(db, sql),
    batch: async <T>(statements: D1PreparedStatement[]) => {
      db.exec('BEGIN');
      try {
        const out = statements.map((s) => (s as unknown as { exec: () => D1Result<Row> }).exec());
        db.exec('COMMIT');
        return out as unknown as D1Result<T>[];
      } catch (e) {
        db.exec('ROLLBACK');
        throw e;
      }
    },
  };
}

/** An R2 bucket in `dir`: one file per key; a put with `sha256` is refused unless the bytes match, as R2 does. */
export function r2OverDirectory(dir: string): R2Bucket & { bytes(): number } {
  const path = (key: string) => join(dir, key);
  const written: string[] = [];
  return {
    head: async (key) => (existsSync(path(key)) ? { key } : null),
    get: async (key) => {
      if (!existsSync(path(key))) return null;
      const bytes = readFileSync(path(key));
      return { key, arrayBuffer: async () => new Uint8Array(bytes).buffer };
    },
    put: async (key, value, options) => {
      if (options?.sha256 && createHash('sha256').update(value).digest('hex') !== options.sha256)
        throw new Error(`put ${key}: the bytes do not match their SHA-256`);
      mkdirSync(dirname(path(key)), { recursive: true });
      writeFileSync(path(key), value);
      written.push(key);
      return { key };
    },
    bytes: () => written.reduce((sum, key) => sum + statSync(path(key)).size, 0),
  };
}
