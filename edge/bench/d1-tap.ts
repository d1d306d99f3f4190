// A D1 binding that reports every call it passes on — its statements with their bound parameters,
// D1's meta for each (duration, rows read and written) and the wall time — for bench:edge's
// instrumented entry (profile.ts) and the query-plan test (edge/test/query-plans.test.ts).

export interface TappedStatement {
  sql: string;
  params: unknown[];
}

/** One D1 call: a statement's first/all/run, or a batch (one round trip to the database). */
export interface D1Call {
  kind: 'first' | 'all' | 'run' | 'batch';
  statements: TappedStatement[];
  metas: D1Meta[];
  wallMs: number;
}

interface Tapped extends TappedStatement {
  stmt: D1PreparedStatement;
}

function tapStatement(
  stmt: D1PreparedStatement,
  s: TappedStatement,
  onCall: (c: D1Call) => void,
): D1PreparedStatement & Tapped {
  const call = async (kind: 'first' | 'all' | 'run') => {
    const t0 = Date.now();
    const r = await stmt.all(); // all() carries meta (first() does not); same rows
    onCall({ kind, statements: [s], metas: [r.meta], wallMs: Date.now() - t0 });
    return r;
  };
  const tapped = {
    ...s,
    stmt,
    bind: (...params: unknown[]) =>
      tapStatement(stmt.bind(...params), { sql: s.sql, params }, onCall),
    first: async (col?: string) => {
      const row = ((await call('first')).results[0] ?? null) as Record<string, unknown> | null;
      return col === undefined ? row : row === null ? null : row[col];
    },
    all: () => call('all'),
    run: () => call('run'),
    raw: (o?: { columnNames?: boolean }) => stmt.raw(o as { columnNames: true }),
  };
  return tapped as unknown as D1PreparedStatement & Tapped;
}

/** `db` with every call reported to `onCall` after it returns. */
export function tapD1(db: D1Database, onCall: (c: D1Call) => void): D1Database {
  const tapped = {
    prepare: (sql: string) => tapStatement(db.prepare(sql), { sql, params: [] }, onCall),
    batch: async (list: (D1PreparedStatement & Tapped)[]) => {
      const t0 = Date.now();
      const rs = await db.batch(list.map((s) => s.stmt));
      onCall({
        kind: 'batch',
        statements: list.map(({ sql, params }) => ({ sql, params })),
        metas: rs.map((r) => r.meta),
        wallMs: Date.now() - t0,
      });
      return rs;
    },
    exec: (q: string) => db.exec(q),
    dump: () => db.dump(),
  };
  return tapped as unknown as D1Database;
}
