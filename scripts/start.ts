// `npm start`: build what is stale, migrate local D1, seed the default campaign once, and run the
// Worker (API + web app on one origin) in workerd. Ctrl-C stops everything it started.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultCampaign, e2eCampaigns } from './lib/campaigns.ts';
import { prepareLocalApp } from './lib/local-app.ts';
import { seedCampaign, startDev, waitForHealth } from './lib/local-edge.ts';
import { ROOT } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8787' },
    persist: { type: 'string', default: '.wrangler/state' },
    campaign: { type: 'string', default: 'default' }, // default | tiny
  },
});
const port = Number(values.port);
const persist = join(ROOT, values.persist);

const { manifest, manifestSha256 } = await prepareLocalApp(persist);
const campaigns =
  values.campaign === 'tiny'
    ? e2eCampaigns(manifest, manifestSha256)
    : [defaultCampaign(manifest, manifestSha256)];
for (const c of campaigns) await seedCampaign(persist, c);

const child = startDev(port, persist);
const stop = () => {
  if (child.exitCode === null) child.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', (code) => process.exit(code ?? 0));

const url = `http://localhost:${port}`;
await waitForHealth(url, child);
console.log(
  `\n  Tabgrid is running: open ${url}\n  (Ctrl-C stops it; data persists in ${values.persist})\n`,
);
