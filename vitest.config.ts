// Three test projects: shared/ and datasets/ in Node, the edge in real workerd with D1 migrated,
// and web/'s state classes in happy-dom (a DOM, localStorage) with fake-indexeddb's IndexedDB.
import { defineConfig } from 'vitest/config';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'shared',
          environment: 'node',
          include: ['shared/**/*.test.ts', 'datasets/**/*.test.ts', 'scripts/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: { TEST_MIGRATIONS: await readD1Migrations('./edge/migrations') },
              // A second D1 shard (edge/src/shards.ts) for the sharded path's tests; D1_SHARDS
              // stays 1, so only those tests put campaigns in it.
              d1Databases: { DB: 'tabgrid-test', DB_1: 'tabgrid-test-shard-1' },
            },
          })),
        ],
        test: {
          name: 'edge',
          include: ['edge/**/*.test.ts'],
          setupFiles: ['./edge/test/apply-migrations.ts'],
          testTimeout: 30_000,
        },
      },
      {
        // The Svelte plugin compiles the runes in *.svelte.ts; `browser` picks Svelte's client runtime.
        plugins: [svelte()],
        resolve: { conditions: ['browser'] },
        test: {
          name: 'web',
          environment: 'happy-dom',
          environmentOptions: { happyDOM: { url: 'http://localhost:8787/' } },
          include: ['web/**/*.test.ts'],
          setupFiles: ['fake-indexeddb/auto'],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
