// A load test's local state: a fresh persist directory, migrated (every D1 shard) and seeded with
// campaigns of tiny synthetic experiments, one campaign per shard. Used through lib/fleet-edge.ts by
// `npm run bench:edge` and `npm run bench:soak`.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../../shared/crypto.ts';
import { PRESETS } from '../../shared/model/presets.ts';
import { shardPrefix } from '../../shared/shard-ids.ts';
import type { ExperimentSpec } from '../../shared/spec.ts';
import { d1Shards, WRANGLER_TOML, writeShardedConfig } from './d1-shards.ts';
import { migrate, registerDataset, seedCampaign } from './local-edge.ts';
import type { D1Shard } from './wrangler.ts';

/** A tiny experiment: PRESETS.tiny on the synthetic dataset, differing only by seed. */
export function benchSpec(seed: number, datasetId: string, datasetSha256: string): ExperimentSpec {
  const p = PRESETS.tiny;
  return {
    template: 'gpt-char',
    dataset: { id: datasetId, sha256: datasetSha256 },
    model: { ...p.model, vocabSize: 40 },
    train: { ...p.train },
    seed,
    evalWindows: p.evalWindows,
  };
}

/** The synthetic dataset's hash: the edge only compares the dataset hash, it never reads the files. */
export const benchDatasetSha256 = () => sha256('tabgrid bench dataset');

/** The local D1 database file under a one-shard persist directory (wrangler's miniflare layout). */
export function d1File(persist: string): string {
  const dir = join(persist, 'v3', 'd1', 'miniflare-D1DatabaseObject');
  const file = readdirSync(dir).find((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  if (!file) throw new Error(`no D1 database under ${dir}`);
  return join(dir, file);
}

export interface BenchState {
  persist: string; // removed and recreated
  campaign: string; // the campaign (and dataset) id
  name: string;
  brief: string;
  experiments: number;
  replicas: number; // replicas_needed and quorum of each experiment
  shards?: number; // local D1 shards, one campaign in each (default 1: wrangler.toml as it is)
  /** Creates the migrated local D1 in the empty `persist` (default: the migrations; --preload: a filled copy). */
  database?: (persist: string) => Promise<void>;
}

/**
 * The bench campaigns' ids over `n` shards, shard 0 first: `id` itself in shard 0, `c<k>_<id>` in
 * shard k (the id tells the edge its shard: shardPrefix in edge/src/shards.ts).
 */
export function benchCampaignIds(id: string, n: number): string[] {
  return Array.from({ length: n }, (_, k) => (k === 0 ? id : `${shardPrefix('c', k)}${id}`));
}

/** Where a seeded bench state lives: its config, its shards (0 first) and one campaign in each. */
export interface SeededState {
  config: string;
  shards: D1Shard[];
  campaigns: string[];
}

/**
 * Migrates a fresh local D1 and seeds `experiments` tiny experiments: one campaign, or with
 * `shards` > 1 a generated config of that many shards (persist/wrangler.json) and one campaign per
 * shard, the experiments split evenly. The dataset is registered in shard 0 only: campaigns name
 * it by id, without a foreign key, and the edge only compares its hash.
 */
export async function seedBenchState(s: BenchState): Promise<SeededState> {
  rmSync(s.persist, { recursive: true, force: true });
  mkdirSync(s.persist, { recursive: true });
  const n = s.shards ?? 1;
  const config = n > 1 ? (await writeShardedConfig(s.persist, n))[0]!.config : WRANGLER_TOML;
  let shards: D1Shard[];
  if (s.database) {
    await s.database(s.persist);
    shards = await d1Shards(config);
  } else shards = await migrate(s.persist, config);
  const datasetSha256 = await benchDatasetSha256();
  await registerDataset(
    s.persist,
    { id: s.campaign, manifestSha256: datasetSha256, vocabSize: 40, name: 'Benchmark (synthetic)' },
    shards[0],
  );
  const campaigns = benchCampaignIds(s.campaign, n);
  const perCampaign = Math.ceil(s.experiments / n);
  for (const [k, id] of campaigns.entries())
    await seedCampaign(
      s.persist,
      {
        id,
        name: s.name,
        brief: s.brief,
        template: 'gpt-char',
        datasetId: s.campaign,
        createdAt: Date.now(),
        specs: Array.from({ length: perCampaign }, (_, i) =>
          benchSpec(i + 1, s.campaign, datasetSha256),
        ),
        replicas: s.replicas,
      },
      shards[k],
    );
  return { config, shards, campaigns };
}
