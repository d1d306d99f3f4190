import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shardOfId } from '../../shared/shard-ids.ts';
import {
  d1Shards,
  shardedConfig,
  shardOrder,
  WRANGLER_TOML,
  writeShardedConfig,
} from './d1-shards.ts';
import { benchCampaignIds } from './bench-state.ts';
import { migrate, queryLocal, seedCampaign } from './local-edge.ts';
import { localD1, ROOT } from './wrangler.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'd1-shards-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The config fields shardedConfig reads, as wrangler.toml has them. */
const RAW = {
  name: 'tabgrid',
  main: 'edge/src/index.ts',
  assets: { directory: './dist', binding: 'ASSETS' },
  d1_databases: [
    {
      binding: 'DB',
      database_name: 'tabgrid',
      database_id: '00000000-0000-0000-0000-000000000000',
      migrations_dir: 'edge/migrations',
    },
  ],
  vars: { LEASE_MIN_SECONDS: '600', D1_SHARDS: '1' },
  durable_objects: { bindings: [{ name: 'CAMPAIGN_QUEUE', class_name: 'CampaignQueue' }] },
};

describe('shardOrder', () => {
  it('lists DB, DB_1, DB_2, … in shard order and leaves other D1 bindings out', () => {
    expect(shardOrder(['DB_2', 'ANALYTICS', 'DB', 'DB_1', 'DB_01'])).toEqual([
      'DB',
      'DB_1',
      'DB_2',
    ]);
    expect(shardOrder(['DB'])).toEqual(['DB']);
  });

  it('refuses a gap, which the edge would never read past, and a config without DB', () => {
    expect(() => shardOrder(['DB', 'DB_2'])).toThrow(/binds DB_2 but not DB_1/);
    expect(() => shardOrder(['DB_1'])).toThrow(/no D1 binding DB/);
    expect(() => shardOrder([])).toThrow(/no D1 binding DB/);
  });

  it('reads wrangler.toml as it is: one shard, DB', async () => {
    expect(await d1Shards()).toEqual([{ binding: 'DB', config: WRANGLER_TOML }]);
  });
});

describe('shardedConfig', () => {
  it('adds DB_1 … DB_{n-1} as copies of DB under their own name and id, with D1_SHARDS = n', () => {
    const c = shardedConfig(RAW, ROOT, 3);
    const d1 = c.d1_databases as Record<string, string>[];
    expect(d1.map((d) => d.binding)).toEqual(['DB', 'DB_1', 'DB_2']);
    expect(d1.map((d) => d.database_name)).toEqual(['tabgrid', 'tabgrid-1', 'tabgrid-2']);
    expect(new Set(d1.map((d) => d.database_id)).size).toBe(3); // local D1 keeps a file per id
    expect(d1[0]!.database_id).toBe(RAW.d1_databases[0]!.database_id);
    expect(c.vars).toEqual({ LEASE_MIN_SECONDS: '600', D1_SHARDS: '3' });
    expect(c.durable_objects).toEqual(RAW.durable_objects);
  });

  it('makes every path absolute, resolved against the original config', () => {
    const c = shardedConfig(RAW, '/repo', 2);
    expect(c.main).toBe('/repo/edge/src/index.ts');
    expect(c.assets).toEqual({ directory: '/repo/dist', binding: 'ASSETS' });
    for (const d of c.d1_databases!) expect(d.migrations_dir).toBe('/repo/edge/migrations');
  });

  it('replaces shards the config already has and keeps other D1 bindings', () => {
    const raw = {
      ...RAW,
      d1_databases: [
        ...RAW.d1_databases,
        { binding: 'DB_1', database_name: 'old' },
        { binding: 'ANALYTICS', database_name: 'analytics' },
      ],
    };
    const c = shardedConfig(raw, ROOT, 2);
    expect(c.d1_databases!.map((d) => [d.binding, d.database_name])).toEqual([
      ['DB', 'tabgrid'],
      ['DB_1', 'tabgrid-1'],
      ['ANALYTICS', 'analytics'],
    ]);
    expect(shardedConfig(RAW, ROOT, 1).d1_databases!.map((d) => d.binding)).toEqual(['DB']);
  });

  it('refuses fewer than one shard and a config without DB', () => {
    expect(() => shardedConfig(RAW, ROOT, 0)).toThrow(/≥ 1/);
    expect(() => shardedConfig({ ...RAW, d1_databases: [] }, ROOT, 2)).toThrow(/no D1 binding DB/);
  });
});

describe('bench campaigns over shards', () => {
  it('tags the campaign of shard k with k, shard 0 keeping the plain id', () => {
    const ids = benchCampaignIds('bench', 4);
    expect(ids).toEqual(['bench', 'c1_bench', 'c2_bench', 'c3_bench']);
    expect(ids.map(shardOfId)).toEqual([0, 1, 2, 3]);
  });
});

describe('local D1 targets', () => {
  it('address DB of wrangler.toml unless a shard is named', () => {
    expect(localD1('/p')).toEqual(['DB', '--local', '--persist-to', '/p']);
    expect(localD1('/p', { binding: 'DB_2', config: '/c.json' })).toEqual([
      'DB_2',
      '--local',
      '--persist-to',
      '/p',
      '--config',
      '/c.json',
    ]);
  });
});

describe('a generated config in wrangler', () => {
  it('is read back by wrangler, migrated in every shard, and keeps each shard its own database', async () => {
    const dir = tmp();
    const shards = await writeShardedConfig(dir, 2);
    const config = join(dir, 'wrangler.json');
    expect(shards).toEqual([
      { binding: 'DB', config },
      { binding: 'DB_1', config },
    ]);
    expect(JSON.parse(readFileSync(config, 'utf8')).main).toBe(
      join(ROOT, 'edge', 'src', 'index.ts'),
    );
    expect(await migrate(dir, config)).toEqual(shards);
    await seedCampaign(
      dir,
      {
        id: 'c1_t',
        name: 't',
        brief: 'b',
        template: 'gpt-char',
        datasetId: 'd',
        createdAt: 1,
        specs: [],
      },
      shards[1],
    );
    const campaigns = (sh: (typeof shards)[number]) =>
      queryLocal<{ id: string }>(dir, 'SELECT id FROM campaigns', sh);
    expect(await campaigns(shards[0]!)).toEqual([]);
    expect(await campaigns(shards[1]!)).toEqual([{ id: 'c1_t' }]);
  });
});
