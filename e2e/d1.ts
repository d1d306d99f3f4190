// Reading (and, to fast-forward time, editing) the e2e edge's local D1 from a browser test, through
// wrangler's own `d1 execute --local` on the same persist dir the test server uses.
import { execFileSync } from 'node:child_process';
import { QUIET_ENV } from '../scripts/wrangler.ts';

export const E2E_PERSIST = '.wrangler/e2e';

export function d1<T>(sql: string, persist = E2E_PERSIST): T[] {
  const out = execFileSync(process.execPath, ['node_modules/wrangler/bin/wrangler.js', 'd1', 'execute', 'DB', '--local', '--persist-to', persist, '--json', '--command', sql], {
    env: { ...QUIET_ENV, WRANGLER_LOG: 'log' }, // --json output is printed at the 'log' level
    encoding: 'utf8',
  });
  const parsed = JSON.parse(out) as { results: T[] }[];
  return parsed[0]!.results;
}
