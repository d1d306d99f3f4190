// bench:edge's Worker entry (scripts/bench-edge.ts), not the production one: the app with every D1
// call — the Worker's, the campaign queue's and the ledger sequencer's (the Durable Objects get the
// same wrapped bindings), in every shard (DB, DB_1, …: a call in shard k ≥ 1 is keyed `[DB_k] …`) —
// and every rate-limiter call counted and timed (rows read and written from D1's meta), plus
// micro-benchmarks under /__bench/ (a D1 call, a batch, a limiter call, an Ed25519 verification, a
// SHA-256) and the collected figures at /__bench/stats. A Date.now() and a Map update per call: noise
// beside the ~0.5 ms a D1 call itself costs here.
import {
  exportPublicKey,
  generateSigningKey,
  sha256,
  signCanonical,
  verifyCanonical,
} from '../../shared/crypto.ts';
import app, { CampaignQueue as Queue, LedgerSequencer as Sequencer } from '../src/index.ts';
import { allShards } from '../src/shards.ts';
import { tapD1 } from './d1-tap.ts';

export { CampaignHub } from '../src/index.ts'; // the Durable Object classes wrangler.toml binds

interface Stat {
  calls: number;
  wallMs: number;
  sqlMs: number;
  rowsRead: number;
  rowsWritten: number;
}
const stats = new Map<string, Stat>();
function add(key: string, wallMs: number, meta?: D1Meta[]): void {
  const s = stats.get(key) ?? { calls: 0, wallMs: 0, sqlMs: 0, rowsRead: 0, rowsWritten: 0 };
  s.calls++;
  s.wallMs += wallMs;
  for (const m of meta ?? []) {
    s.sqlMs += m.duration ?? 0;
    s.rowsRead += m.rows_read ?? 0;
    s.rowsWritten += m.rows_written ?? 0;
  }
  stats.set(key, s);
}
const norm = (sql: string) =>
  sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** `who` prefixes the keys of the calls made through this binding ('' for the Worker's). */
const wrapDb = (db: D1Database, who = ''): D1Database =>
  tapD1(db, ({ kind, statements, metas, wallMs }) =>
    add(
      kind === 'batch'
        ? `${who}batch(${statements.length}) ${statements.map((s) => norm(s.sql).slice(0, 40)).join(' ; ')}`
        : `${who}${kind} ${norm(statements[0]!.sql)}`,
      wallMs,
      metas,
    ),
  );

/**
 * `env` with every shard's binding wrapped (wrapDb): the Worker and the Durable Objects pick their
 * shard from env (shardBinding, envOfId in edge/src/shards.ts), so each shard's calls are counted
 * under its own `[DB_k] ` prefix, shard 0's under none, as before shards.
 */
function wrapShards(env: Env, who = ''): Env {
  const out: Env & Record<string, unknown> = { ...env };
  for (const [k, db] of allShards(env).entries())
    out[k === 0 ? 'DB' : `DB_${k}`] = wrapDb(db, k === 0 ? who : `[DB_${k}] ${who}`);
  return out;
}

const wrapLimiter = (name: string, l: RateLimit): RateLimit => ({
  limit: async (o) => {
    const t0 = Date.now();
    const r = await l.limit(o);
    add(`ratelimit ${name}`, Date.now() - t0);
    return r;
  },
});

/** The campaign queue with its D1 calls counted under 'queue ' (the Durable Object's own SQLite is not D1). */
export class CampaignQueue extends Queue {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, wrapShards(env, 'queue '));
  }
}

/** The ledger sequencer with its D1 calls counted under 'ledger '. */
export class LedgerSequencer extends Sequencer {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, wrapShards(env, 'ledger '));
  }
}

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
      ...wrapShards(env),
      IP_LIMITER: wrapLimiter('IP_LIMITER', env.IP_LIMITER),
      VOLUNTEER_LIMITER: wrapLimiter('VOLUNTEER_LIMITER', env.VOLUNTEER_LIMITER),
    };
    const t0 = Date.now();
    const res = await app.fetch(req, wrapped, ctx);
    add(`route ${req.method} ${url.pathname}`, Date.now() - t0);
    return res;
  },
};
