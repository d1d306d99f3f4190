// A local edge in workerd: migrate local D1, seed a built-in dataset (R2 and D1), seed campaigns, run `wrangler dev`
// and query D1, all against one `--persist-to` directory. Shared by `npm start` and `npm run bench:edge`.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LOCAL_FRONT_HEADER } from '../../shared/protocol.ts';
import { campaignStatements, type NewCampaign } from '../../edge/src/db/campaigns.ts';
import { datasetFileKey } from '../../shared/dataset-upload.ts';
import type { DatasetManifest } from '../../shared/dataset.ts';
import { d1Shards, WRANGLER_TOML } from './d1-shards.ts';
import {
  d1Execute,
  d1Json,
  localD1,
  localState,
  QUIET_ENV,
  wrangler,
  wranglerRun,
  type D1Shard,
} from './wrangler.ts';

/** wrangler.toml's bucket of the CHECKPOINTS binding, where dataset files live too. */
const CHECKPOINTS_BUCKET = 'tabgrid-checkpoints';

export function sqlLiteral(v: string | number | null): string {
  if (v === null) return 'NULL';
  return typeof v === 'number' ? JSON.stringify(v) : `'${v.replaceAll("'", "''")}'`;
}

/**
 * Applies edge/migrations to every D1 shard `config` binds (DB, DB_1, …: lib/d1-shards.ts) in the
 * local state in `persist`, creating the databases when missing; returns the shards, shard 0 first.
 */
export async function migrate(persist: string, config = WRANGLER_TOML): Promise<D1Shard[]> {
  const shards = await d1Shards(config);
  for (const shard of shards)
    await wranglerRun(['d1', 'migrations', 'apply', ...localD1(persist, shard)]);
  return shards;
}

export interface DatasetRow {
  id: string;
  manifestSha256: string;
  vocabSize: number;
  name: string;
  manifestJson?: string; // served at /api/datasets/<id>/manifest, its files by SHA-256 from R2
}

/** Registers a dataset in shard 0 (`shard`: DB of another config), where datasets are kept. */
export function registerDataset(persist: string, d: DatasetRow, shard?: D1Shard): Promise<void> {
  return wranglerRun(
    d1Execute(
      localD1(persist, shard),
      '--command',
      `INSERT OR REPLACE INTO datasets (id, manifest_sha256, vocab_size, name, registered_at, manifest_json) VALUES ('${d.id}', '${d.manifestSha256}', ${d.vocabSize}, ${sqlLiteral(d.name)}, ${Date.now()}, ${sqlLiteral(d.manifestJson ?? null)})`,
    ),
  );
}

/**
 * A built-in corpus as an ordinary registered dataset: its token files put into the local R2 under
 * their SHA-256 (where uploaded datasets' files are), then its manifest registered with them, so
 * volunteers load it by hash from the edge like any other. No owner: no researcher can replace it.
 */
export async function seedBuiltInDataset(
  persist: string,
  d: { manifest: DatasetManifest; manifestSha256: string; dir: string },
): Promise<void> {
  for (const f of [d.manifest.train, d.manifest.val])
    await wranglerRun([
      'r2',
      'object',
      'put',
      `${CHECKPOINTS_BUCKET}/${datasetFileKey(f.sha256)}`,
      '--file',
      join(d.dir, f.file),
      '--content-type',
      'application/octet-stream',
      ...localState(persist),
    ]);
  await registerDataset(persist, {
    id: d.manifest.id,
    manifestSha256: d.manifestSha256,
    vocabSize: d.manifest.vocab.length,
    name: d.manifest.name,
    manifestJson: JSON.stringify(d.manifest),
  });
}

/**
 * Seeds a campaign through a SQL file (INSERT OR IGNORE: seeding twice changes nothing) into
 * `shard` (default DB): the shard its id is tagged with (edge/src/shards.ts).
 */
export async function seedCampaign(
  persist: string,
  campaign: NewCampaign,
  shard?: D1Shard,
): Promise<void> {
  const sql = (await campaignStatements(campaign))
    .map((s) => {
      let i = 0;
      return s.sql.replace(/\?/g, () => sqlLiteral(s.params[i++] ?? null)) + ';';
    })
    .join('\n');
  const file = join(persist, `seed-${campaign.id}.sql`);
  writeFileSync(file, sql);
  await wranglerRun(d1Execute(localD1(persist, shard), '--file', file));
}

/**
 * Bundles the Worker once, as a deploy would (`wrangler deploy --dry-run --outdir`, offline), and
 * returns the bundle's path. `wrangler dev <bundle> --no-bundle` then serves that frozen copy: edits
 * to the sources while it runs do not rebuild and restart it. `entry` replaces wrangler.toml's main.
 */
export async function bundleWorker(
  outdir: string,
  assets: string,
  entry?: string,
): Promise<string> {
  await wranglerRun([
    'deploy',
    '--dry-run',
    '--outdir',
    outdir,
    '--assets',
    assets,
    ...(entry ? [entry] : []),
  ]);
  const out = readdirSync(outdir).filter((f) => /\.m?js$/.test(f)); // named after the entry point
  if (out.length !== 1)
    throw new Error(`expected one bundle in ${outdir}, found: ${out.join(', ') || 'none'}`);
  return join(outdir, out[0]!);
}

export interface DevOptions {
  extra?: string[]; // appended to the `wrangler dev` arguments
  output?: 'inherit' | 'stderr'; // 'stderr': all of wrangler's output to our stderr, keeping stdout for a report
  env?: Record<string, string>; // on top of QUIET_ENV
}

/**
 * The local front's secret (edge/src/client-address.ts): whoever sends it in FRONT_HEADER may say
 * which address a request comes from (CF-Connecting-IP), as Cloudflare's front does in production.
 * Benchmarks and browser tests simulate many volunteers' addresses with it; nobody else learns it:
 * it is made per process (or handed down in TABGRID_FRONT_SECRET, as to `npm start` under the
 * browser tests) and never printed.
 */
export const FRONT_SECRET =
  process.env.TABGRID_FRONT_SECRET ?? randomBytes(24).toString('base64url');

/** The headers that make a local request come from `ip`, as CF-Connecting-IP does in production. */
export function fromAddress(ip: string): Record<string, string> {
  return { 'cf-connecting-ip': ip, [LOCAL_FRONT_HEADER]: FRONT_SECRET };
}

/** `wrangler dev` on 127.0.0.1:`port`, persisting to `persist`. */
export function startDev(port: number, persist: string, opts: DevOptions = {}): ChildProcess {
  // --var last: it takes any number of values and would swallow a positional script path after it.
  const args = [
    'dev',
    '--port',
    String(port),
    '--ip',
    '127.0.0.1',
    '--persist-to',
    persist,
    '--show-interactive-dev-session=false',
    ...(opts.extra ?? []),
    '--var',
    `ADDRESS_SOURCE:front:${FRONT_SECRET}`,
  ];
  return wrangler(args, {
    stdio: opts.output === 'stderr' ? ['ignore', 2, 2] : ['ignore', 'inherit', 'inherit'],
    env: { ...QUIET_ENV, ...opts.env },
  });
}

export async function waitForHealth(
  url: string,
  child: { exitCode: number | null },
): Promise<void> {
  for (let i = 0; i < 600 && child.exitCode === null; i++) {
    try {
      if ((await fetch(`${url}/api/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the edge did not become healthy');
}

/** Runs one read query on a local D1 shard (default DB) with `wrangler d1 execute --json`; its rows. */
export function queryLocal<T = Record<string, unknown>>(
  persist: string,
  sql: string,
  shard?: D1Shard,
): Promise<T[]> {
  return d1Json<T>(localD1(persist, shard), sql);
}
