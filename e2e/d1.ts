// Reading (and, to fast-forward time, editing) an e2e edge's local D1 from a browser test, through
// wrangler's own `d1 execute --local` on the same persist dir the test server uses.
import { execFileSync } from 'node:child_process';
import { D1_JSON_ENV, d1Execute, d1Rows, localD1, WRANGLER } from '../scripts/lib/wrangler.ts';
import { E2E_PERSIST } from '../playwright.config.ts';

export { E2E_PERSIST };

/** Synchronous, so that it can sit inside `expect.poll` and plain assertions. */
export function d1<T>(sql: string, persist = E2E_PERSIST): T[] {
  const out = execFileSync(
    process.execPath,
    [WRANGLER, ...d1Execute(localD1(persist), '--json', '--command', sql)],
    { env: D1_JSON_ENV, encoding: 'utf8' },
  );
  return d1Rows<T>(out);
}
