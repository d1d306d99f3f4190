// Every test starts from empty, migrated D1 shards: storage is reset and the migrations re-applied.
import { applyD1Migrations, env, reset } from 'cloudflare:test';
import { beforeEach } from 'vitest';

beforeEach(async () => {
  await reset();
  await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
  await applyD1Migrations(env.DB_1, env.TEST_MIGRATIONS); // the second shard (vitest.config.ts)
});
