// Operator command: `npm run researcher -- add NAME` creates a researcher and prints its token
// once (the edge keeps only the SHA-256). `--remote` writes to the deployed D1 instead of local state.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomToken, sha256 } from '../shared/crypto.ts';
import { migrate } from './lib/local-edge.ts';
import { d1Execute, localD1, remoteD1, ROOT, wranglerRun } from './lib/wrangler.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    remote: { type: 'boolean', default: false },
    persist: { type: 'string', default: '.wrangler/state' },
  },
});
const [command, ...names] = positionals;
const name = names.join(' ').trim();
if (command !== 'add' || !name || name.length > 80) {
  console.error('usage: npm run researcher -- add NAME [--remote] [--persist DIR]');
  process.exit(2);
}

const token = randomToken(32);
const id = 'r_' + randomToken(9);
const quoted = `'${name.replaceAll("'", "''")}'`;
// Researchers live in shard 0 (edge/src/shards.ts); locally every shard is migrated first.
const persist = join(ROOT, values.persist);
const target = values.remote ? remoteD1() : localD1(persist);
if (!values.remote) await migrate(persist);
await wranglerRun(
  d1Execute(
    target,
    '--command',
    `INSERT INTO researchers (id, name, token_hash, created_at) VALUES ('${id}', ${quoted}, '${await sha256(token)}', ${Date.now()})`,
  ),
);
console.log(`researcher ${id} (${name}) created. Token — shown once, keep it secret:\n${token}`);
