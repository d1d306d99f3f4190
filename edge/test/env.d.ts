// Test-only bindings added by vitest.config.ts.
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import('@cloudflare/vitest-plugin').D1Migration[];
    DB_1: D1Database; // the second D1 shard (edge/src/shards.ts)
  }
}
