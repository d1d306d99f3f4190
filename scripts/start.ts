// `npm start`: build what is stale, migrate local D1, seed the default campaign once, and run the
// Worker (API + web app on one origin) in workerd. Ctrl-C stops everything it started.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDataset } from '../datasets/build.ts';
import { campaignStatements, type NewCampaign } from '../edge/src/db/campaigns.ts';
import { buildAll } from './build.ts';
import { defaultCampaign, tinyCampaign } from './campaigns.ts';
import { ROOT, wrangler, wranglerRun } from './wrangler.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8787' },
    persist: { type: 'string', default: '.wrangler/state' },
    campaign: { type: 'string', default: 'default' }, // default | tiny
  },
});
const port = Number(values.port);
const persist = join(ROOT, values.persist);

function sqlLiteral(v: string | number): string {
  return typeof v === 'number' ? JSON.stringify(v) : `'${v.replaceAll("'", "''")}'`;
}

async function seed(campaign: NewCampaign): Promise<void> {
  const sql = (await campaignStatements(campaign))
    .map((s) => {
      let i = 0;
      return s.sql.replace(/\?/g, () => sqlLiteral(s.params[i++]!)) + ';';
    })
    .join('\n');
  const file = join(persist, `seed-${campaign.id}.sql`);
  writeFileSync(file, sql);
  await wranglerRun(['d1', 'execute', 'DB', '--local', '--persist-to', persist, '--file', file]);
}

async function waitForHealth(url: string, child: { exitCode: number | null }): Promise<void> {
  for (let i = 0; i < 600 && child.exitCode === null; i++) {
    try {
      if ((await fetch(`${url}/api/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the edge did not become healthy');
}

await buildAll();
const { manifest, manifestSha256 } = await ensureDataset('sotu');
await wranglerRun(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist]);
await wranglerRun(['d1', 'execute', 'DB', '--local', '--persist-to', persist, '--command',
  `INSERT OR REPLACE INTO datasets (id, manifest_sha256, vocab_size, name, registered_at) VALUES ('${manifest.id}', '${manifestSha256}', ${manifest.vocab.length}, ${sqlLiteral(manifest.name)}, ${Date.now()})`]);
await seed(values.campaign === 'tiny' ? tinyCampaign(manifest, manifestSha256) : defaultCampaign(manifest, manifestSha256));

const child = wrangler(['dev', '--port', String(port), '--ip', '127.0.0.1', '--persist-to', persist, '--show-interactive-dev-session=false'], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
const stop = () => {
  if (child.exitCode === null) child.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', (code) => process.exit(code ?? 0));

const url = `http://localhost:${port}`;
await waitForHealth(url, child);
console.log(`\n  Tabgrid is running: open ${url}\n  (Ctrl-C stops it; data persists in ${values.persist})\n`);
