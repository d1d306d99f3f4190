// Two test projects: shared/ and datasets/ in Node, the edge in real workerd with D1 migrated.
import { defineConfig } from 'vitest/config';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';

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
    ],
  },
});
