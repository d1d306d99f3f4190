// bench:edge --profile's Worker entry (scripts/bench-edge.ts), not the production one: the app with
// every D1 statement and rate-limiter call timed, plus micro-benchmarks under /__bench/ (a D1 call,
// a batch, a limiter call, an Ed25519 verification, a SHA-256) and the collected timings at
// /__bench/stats.
import {
  exportPublicKey,
  generateSigningKey,
  sha256,
  signCanonical,
  verifyCanonical,
} from '../../shared/crypto.ts';
import app from '../src/index.ts';

export * from '../src/index.ts'; // the Durable Object classes wrangler.toml binds

interface Stat {
  calls: number;
  wallMs: number;
  sqlMs: number;
  rowsRead: number;
}
const stats = new Map<string, Stat>();
function add(key: string, wallMs: number, sqlMs = 0, rowsRead = 0): void {
  const s = stats.get(key) ?? { calls: 0, wallMs: 0, sqlMs: 0, rowsRead: 0 };
  s.calls++;
  s.wallMs += wallMs;
  s.sqlMs += sqlMs;
  s.rowsRead += rowsRead;
  stats.set(key, s);
}
const norm = (sql: string) =>
  sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** A prepared statement that times each call; `stmt` and `sql` are kept for batches. */
interface Timed {
  stmt: D1PreparedStatement;
  sql: string;
}
function wrapStmt(stmt: D1PreparedStatement, sql: string): D1PreparedStatement & Timed {
  const timed = async (call: 'first' | 'all' | 'run') => {
    const t0 = Date.now();
    const r = await stmt.all(); // all() carries meta (first() does not); same rows
    add(`${call} ${norm(sql)}`, Date.now() - t0, r.meta.duration ?? 0, r.meta.rows_read ?? 0);
    return r;
  };
  const wrapped = {
    stmt,
    sql,
    bind: (...args: unknown[]) => wrapStmt(stmt.bind(...args), sql),
    first: async (col?: string) => {
      const row = ((await timed('first')).results[0] ?? null) as Record<string, unknown> | null;
      return col === undefined ? row : row === null ? null : row[col];
    },
    all: () => timed('all'),
    run: () => timed('run'),
    raw: (o?: { columnNames?: boolean }) => stmt.raw(o as { columnNames: true }),
  };
  return wrapped as unknown as D1PreparedStatement & Timed;
}

function wrapDb(db: D1Database): D1Database {
  const wrapped = {
    prepare: (sql: string) => wrapStmt(db.prepare(sql), sql),
    batch: async (list: (D1PreparedStatement & Timed)[]) => {
      const t0 = Date.now();
      const rs = await db.batch(list.map((s) => s.stmt));
      add(
        `batch(${list.length}) ${list.map((s) => norm(s.sql).slice(0, 40)).join(' ; ')}`,
        Date.now() - t0,
        rs.reduce((a, r) => a + (r.meta.duration ?? 0), 0),
        rs.reduce((a, r) => a + (r.meta.rows_read ?? 0), 0),
      );
      return rs;
    },
    exec: (q: string) => db.exec(q),
    dump: () => db.dump(),
  };
  return wrapped as unknown as D1Database;
}

const wrapLimiter = (name: string, l: RateLimit): RateLimit => ({
  limit: async (o) => {
    const t0 = Date.now();
    const r = await l.limit(o);
    add(`ratelimit ${name}`, Date.now() - t0);
    return r;
  },
});

let signed: { publicKey: string; signature: string; value: Record<string, unknown> } | null = null;

async function micro(url: URL, env: Env): Promise<Response> {
  const n = Number(url.searchParams.get('n') ?? 0);
  switch (url.pathname) {
    case '/__bench/noop':
      return new Response('ok');
    case '/__bench/d1':
      for (let i = 0; i < n; i++) await env.DB.prepare('SELECT 1 AS x').first();
      return new Response('ok');
    case '/__bench/d1-batch2':
      for (let i = 0; i < n; i++)
        await env.DB.batch([env.DB.prepare('SELECT 1 AS x'), env.DB.prepare('SELECT 2 AS y')]);
      return new Response('ok');
    case '/__bench/ratelimit':
      for (let i = 0; i < n; i++) await env.IP_LIMITER.limit({ key: `micro-${i}` });
      return new Response('ok');
    case '/__bench/verify': {
      if (!signed) {
        const keys = await generateSigningKey();
        const value = {
          method: 'POST',
          path: '/api/leases',
          timestamp: Date.now(),
          bodySha256: await sha256('{}'),
        };
        signed = {
          publicKey: await exportPublicKey(keys.publicKey),
          signature: await signCanonical(keys.privateKey, value),
          value,
        };
      }
      let ok = 0;
      for (let i = 0; i < n; i++)
        ok += (await verifyCanonical(signed.publicKey, signed.signature, signed.value)) ? 1 : 0;
      return new Response(String(ok));
    }
    case '/__bench/sha256':
      for (let i = 0; i < n; i++) await sha256('x'.repeat(600) + i);
      return new Response('ok');
    case '/__bench/stats': {
      const out = Object.fromEntries(stats);
      stats.clear();
      return Response.json(out);
    }
  }
  return new Response('unknown', { status: 404 });
}

export default {
  async fetch(req: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith('/__bench/')) return micro(url, env);
    const wrapped: Env = {
      ...env,
      DB: wrapDb(env.DB),
      IP_LIMITER: wrapLimiter('IP_LIMITER', env.IP_LIMITER),
      VOLUNTEER_LIMITER: wrapLimiter('VOLUNTEER_LIMITER', env.VOLUNTEER_LIMITER),
    };
    const t0 = Date.now();
    const res = await app.fetch(req, wrapped, ctx);
    add(`route ${req.method} ${url.pathname}`, Date.now() - t0);
    return res;
  },
};
