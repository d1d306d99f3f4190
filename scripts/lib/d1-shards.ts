// The D1 shards of a wrangler config (edge/src/shards.ts: binding `DB` is shard 0, `DB_1`, `DB_2`, …
// the others) as the scripts address them, and a generated config with N local shards for
// `npm run bench:edge -- --shards N`.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ROOT, type D1Shard } from './wrangler.ts';

/** The project's wrangler config: what `npm start`, the browser tests and `npm run deploy` use. */
export const WRANGLER_TOML = join(ROOT, 'wrangler.toml');

/** Shard 0 of wrangler.toml: where the scripts' reads and writes go unless told otherwise. */
export const HOME_SHARD: D1Shard = { binding: 'DB', config: WRANGLER_TOML };

/** The fields of a wrangler config this module reads or rewrites; the rest is passed through. */
interface RawConfig {
  main?: string;
  assets?: { directory?: string };
  d1_databases?: { binding: string; database_name?: string; migrations_dir?: string }[];
  vars?: Record<string, unknown>;
  [key: string]: unknown;
}

const SHARD_BINDING = /^DB(?:_([1-9]\d*))?$/;

/**
 * The shard bindings among a config's D1 bindings, in shard order (DB, DB_1, DB_2, …). Other D1
 * bindings are not shards and are left out. The edge reads shards up to the first missing binding
 * (allShards), so a gap would leave shards nobody reads: that is an error, as is a config without DB.
 */
export function shardOrder(bindings: string[]): string[] {
  const byShard = new Map<number, string>();
  for (const b of bindings) {
    const m = SHARD_BINDING.exec(b);
    if (m) byShard.set(m[1] ? Number(m[1]) : 0, b);
  }
  if (!byShard.has(0)) throw new Error('the wrangler config has no D1 binding DB (shard 0)');
  const out: string[] = [];
  for (let k = 0; byShard.has(k); k++) out.push(byShard.get(k)!);
  if (out.length !== byShard.size) {
    const stranded = [...byShard.keys()].filter((k) => k > out.length).map((k) => byShard.get(k));
    throw new Error(
      `the wrangler config binds ${stranded.join(', ')} but not DB_${out.length}: the edge reads shards DB, DB_1, … up to the first missing one`,
    );
  }
  return out;
}

/** The config file as wrangler reads it (TOML or JSON), through wrangler's own reader. */
async function readRawConfig(config: string): Promise<RawConfig> {
  // Imported when needed: loading wrangler takes most of a second (measured here: 0.74 s).
  const { experimental_readRawConfig } = await import('wrangler');
  return experimental_readRawConfig({ config }).rawConfig as RawConfig;
}

/** The shards of a wrangler config, shard 0 first (shardOrder). */
export async function d1Shards(config = WRANGLER_TOML): Promise<D1Shard[]> {
  const raw = await readRawConfig(config);
  return shardOrder((raw.d1_databases ?? []).map((d) => d.binding)).map((binding) => ({
    binding,
    config,
  }));
}

/** A stable, distinct database id for generated shard `k` of `name` (local D1 keeps a file per id). */
function shardDatabaseId(name: string, k: number): string {
  const h = createHash('sha256').update(`${name} shard ${k}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * `raw` (read from a config in `dir`) with `n` shards: DB as it is plus DB_1 … DB_{n-1}, copies of
 * DB under their own name and id, and D1_SHARDS = n so new campaigns spread over all of them. Paths
 * become absolute, since a config's paths resolve relative to the config and this one is written
 * elsewhere. Further shard bindings `raw` has are replaced.
 */
export function shardedConfig(raw: RawConfig, dir: string, n: number): RawConfig {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`shards must be ≥ 1 (got ${n})`);
  const d1 = raw.d1_databases ?? [];
  const home = d1.find((d) => d.binding === 'DB');
  if (!home) throw new Error('the wrangler config has no D1 binding DB (shard 0)');
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(dir, p));
  const db = { ...home, migrations_dir: abs(home.migrations_dir) };
  const others = d1.filter((d) => !SHARD_BINDING.test(d.binding));
  const extra = Array.from({ length: n - 1 }, (_, i) => ({
    ...db,
    binding: `DB_${i + 1}`,
    database_name: `${home.database_name ?? 'db'}-${i + 1}`,
    database_id: shardDatabaseId(home.database_name ?? 'db', i + 1),
  }));
  return {
    ...raw,
    main: abs(raw.main),
    ...(raw.assets ? { assets: { ...raw.assets, directory: abs(raw.assets.directory) } } : {}),
    d1_databases: [db, ...extra, ...others],
    vars: { ...raw.vars, D1_SHARDS: String(n) },
  };
}

/**
 * Writes `base` with `n` shards (shardedConfig) as `dir`/wrangler.json, a config wrangler reads as
 * it reads wrangler.toml, and returns its shards, shard 0 first.
 */
export async function writeShardedConfig(
  dir: string,
  n: number,
  base = WRANGLER_TOML,
): Promise<D1Shard[]> {
  const config = join(dir, 'wrangler.json');
  writeFileSync(
    config,
    JSON.stringify(shardedConfig(await readRawConfig(base), dirname(base), n), null, 2),
  );
  return d1Shards(config);
}
