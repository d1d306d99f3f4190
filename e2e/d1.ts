// Reading (and, to fast-forward time, editing) an e2e edge's local D1 from a browser test, through
// wrangler's own `d1 execute --local` on the same persist dir the test server uses.
import { execFileSync } from 'node:child_process';
import { QUIET_ENV } from '../scripts/lib/wrangler.ts';

export const E2E_PERSIST = '.wrangler/e2e';

/** Synchronous, so that it can sit inside `expect.poll` and plain assertions. */
export function d1<T>(sql: string, persist = E2E_PERSIST): T[] {
  const out = execFileSync(
    process.execPath,
    [
      'node_modules/wrangler/bin/wrangler.js',
      'd1',
      'execute',
      'DB',
      '--local',
      '--persist-to',
      persist,
      '--json',
      '--command',
      sql,
    ],
    {
      env: { ...QUIET_ENV, WRANGLER_LOG: 'log' }, // below 'log' wrangler drops the --json output too
      encoding: 'utf8',
    },
  );
  return (JSON.parse(out) as { results: T[] }[]).flatMap((r) => r.results);
}
