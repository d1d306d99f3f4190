// `npm run deploy` (after the build): edge/migrations applied to every D1 shard wrangler.toml binds
// (DB, DB_1, …: lib/d1-shards.ts) on Cloudflare, then `wrangler deploy`. Migrations first, so the
// new Worker never meets a shard without the schema it expects; a failed migration stops it there.
//
//   npm run deploy [-- --dry-run]   (--dry-run: print the wrangler commands, run nothing)
import { parseArgs } from 'node:util';
import { d1Shards } from './lib/d1-shards.ts';
import { remoteD1, wrangler } from './lib/wrangler.ts';

const { values } = parseArgs({ options: { 'dry-run': { type: 'boolean', default: false } } });

/**
 * Runs wrangler in this terminal (a remote migration asks before it applies), with the caller's
 * environment: not the local runs' quiet one, which would hide what the deploy prints.
 */
function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    wrangler(args, { env: process.env }).on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`wrangler ${args.join(' ')} failed (${code})`)),
    );
  });
}

const commands = [
  ...(await d1Shards()).map((s) => ['d1', 'migrations', 'apply', ...remoteD1(s.binding)]),
  ['deploy'],
];
for (const args of commands) {
  console.log(`$ wrangler ${args.join(' ')}`);
  if (values['dry-run']) continue;
  try {
    await run(args);
  } catch (e) {
    console.error(`deploy stopped: ${(e as Error).message}`);
    process.exit(1);
  }
}
