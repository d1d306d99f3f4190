// D1 shards by campaign (docs/scale.md "Sharding"). One D1 database serves about 1,000 queries a
// second, so the edge spreads campaigns over several: binding `DB` is shard 0 and the home of
// everything global (volunteers, researchers, datasets, partners), `DB_1`, `DB_2`, … are the others.
// A campaign, its experiments, leases, results, spot checks, ledger (one chain per shard, with its
// own sequencer) and live counts live whole in one shard, so a volunteer's loop never crosses two.
//
// Where is a row? Its id says: every id minted inside a shard k ≥ 1 carries k after its letter
// prefix (`c3_…` campaign, `l3_…` lease, `r3_…` result, `x3_…` child experiment; an experiment's
// id starts with its campaign's), and shard 0 mints the untagged ids it always has. No directory
// read, no lookup: an id of a shard that is not bound routes to shard 0, where it does not exist,
// so it is answered as unknown like any other id nobody minted.
//
// Every shard has the whole schema (the same migrations) and a copy of the global rows its own
// rows point at: each volunteer's row (written to every shard when it registers or renames itself;
// its linked keys stay in shard 0, where requests fall back to for them), and the researcher of
// each of its campaigns (copied, without the token hash, when the campaign is created). Reads that
// span shards merge in db/fan-out*.ts. `D1_SHARDS` (wrangler.toml [vars]) says over how many bound
// shards new campaigns are spread.
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { shardOfId } from '../../shared/shard-ids.ts';
import type { AppEnv } from './env.ts';

export { shardOfId, shardPrefix } from '../../shared/shard-ids.ts'; // the id rule, shared with scripts

/** The environment of work inside one shard: `DB` is the shard; `HOME_DB` shard 0. */
export type ShardEnv = Env & { HOME_DB: D1Database; SHARD: number };

/** The D1 binding of shard `k`, or null where none is bound. */
export function shardBinding(env: Env, k: number): D1Database | null {
  if (k === 0) return homeDb(env);
  const db = (env as unknown as Record<string, unknown>)[`DB_${k}`];
  return db && typeof (db as D1Database).prepare === 'function' ? (db as D1Database) : null;
}

/** Shard 0: where volunteers, researchers, datasets and partners are kept. */
export function homeDb(env: Env): D1Database {
  return (env as Partial<ShardEnv>).HOME_DB ?? env.DB;
}

/** Every bound shard, 0 first: DB, DB_1, DB_2, … up to the first missing binding. */
export function allShards(env: Env): D1Database[] {
  const out: D1Database[] = [];
  for (let k = 0; ; k++) {
    const db = shardBinding(env, k);
    if (!db) return out;
    out.push(db);
  }
}

/** How many shards take new campaigns: D1_SHARDS, bounded by the shards bound. */
export function openShards(env: Env): number {
  const n = Math.floor(Number(env.D1_SHARDS ?? 1));
  return Math.max(1, Math.min(Number.isFinite(n) ? n : 1, allShards(env).length));
}

/** The shard a new campaign goes to: uniformly at random over the open shards. */
export function pickShard(env: Env): number {
  const n = openShards(env);
  return n === 1 ? 0 : crypto.getRandomValues(new Uint32Array(1))[0]! % n;
}

/**
 * The shard a volunteer's own reads go to (its key at sign-in, a repeated registration): its id
 * hashed over the bound shards. Every shard holds every volunteer's row, so this spreads them.
 */
export function volunteerShard(env: Env, volunteerId: string): D1Database {
  const shards = allShards(env);
  return shards[Number.parseInt(volunteerId.slice(-8), 16) % shards.length] ?? homeDb(env);
}

/** `env` with `DB` pointing at shard `k` (shard 0 when `k` is not bound). */
export function shardEnv(env: Env, k: number): ShardEnv {
  const home = homeDb(env);
  const db = shardBinding(env, k);
  return { ...env, DB: db ?? home, HOME_DB: home, SHARD: db ? k : 0 };
}

/** The shard env of the shard that minted `id`. */
export function envOfId(env: Env, id: string): ShardEnv {
  return shardEnv(env, shardOfId(id));
}

/**
 * Moves the rest of this request into the shard that minted `id`: every `c.env.DB` after this reads
 * and writes there. Call it before the request's first D1 call in that shard (its replay guard
 * included); the volunteer's key lookup before it reads shard 0, where every volunteer is.
 */
export function enterShard(c: Context<AppEnv>, id: string): ShardEnv {
  const env = envOfId(homeEnv(c.env), id);
  c.env = env;
  return env;
}

/** `env` as it was before any enterShard: `DB` is shard 0 again. */
export function homeEnv(env: Env): Env {
  return { ...env, DB: homeDb(env) };
}

/** The current shard's number (0 outside any shard). */
export function currentShard(env: Env): number {
  return (env as Partial<ShardEnv>).SHARD ?? 0;
}

/** Middleware: the request works in the shard its `:id` path parameter names (enterShard). */
export const inShardOfParam = createMiddleware<AppEnv>(async (c, next) => {
  const id = c.req.param('id');
  if (id) enterShard(c, id);
  await next();
});
