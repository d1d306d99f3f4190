// `npm start`: build what is stale, migrate local D1, seed the default campaign once, and run the
// Worker (API + web app on one origin) in workerd. Ctrl-C stops everything it started.
//   npm start -- [--port 8787] [--persist .wrangler/state] [--campaign default|tiny] [--shards N]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultCampaign, e2eCampaigns } from './lib/campaigns.ts';
import { prepareLocalApp } from './lib/local-app.ts';
import { writeShardedConfig } from './lib/d1-shards.ts';
import { migrate, seedCampaign, startDev, waitForHealth } from './lib/local-edge.ts';
import { ROOT } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8787' },
    persist: { type: 'string', default: '.wrangler/state' },
    campaign: { type: 'string', default: 'default' }, // default | tiny
    // D1 shards (edge/src/shards.ts): more than 1 serves a generated config with DB_1 … and
    // D1_SHARDS = N, so the campaigns researchers create spread over them (docs/scale.md).
    shards: { type: 'string', default: '1' },
  },
});
const shards = Number(values.shards);
if (!Number.isSafeInteger(shards) || shards < 1 || shards > 999) {
  console.error(`--shards must be an integer from 1 to 999 (got ${values.shards})`);
  process.exit(2);
}
const port = Number(values.port);
const persist = join(ROOT, values.persist);

const { manifest, manifestSha256 } = await prepareLocalApp(persist);
const campaigns =
  values.campaign === 'tiny'
    ? e2eCampaigns(manifest, manifestSha256)
    : [defaultCampaign(manifest, manifestSha256)];
for (const c of campaigns) await seedCampaign(persist, c);
let config: string[] = [];
if (shards > 1) {
  await writeShardedConfig(persist, shards);
  const file = join(persist, 'wrangler.json');
  await migrate(persist, file);
  config = ['--config', file];
}

const child = startDev(port, persist, { extra: config });
const stop = () => {
  if (child.exitCode === null) child.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', (code) => process.exit(code ?? 0));

const url = `http://localhost:${port}`;
await waitForHealth(url, child);
console.log(
  `\n  Tabgrid is running: open ${url}${shards > 1 ? ` (${shards} D1 shards)` : ''}\n  (Ctrl-C stops it; data persists in ${values.persist})\n`,
);
