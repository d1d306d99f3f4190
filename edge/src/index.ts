// The Tabgrid edge: a Hono app on Cloudflare Workers. /api/* runs here, and /embed (the widget's
// page, with per-partner framing headers); everything else is the built web app, served by
// Workers Static Assets from the same origin.
import { Hono, type Context } from 'hono';
import { api } from './api.ts';
import type { AppEnv } from './env.ts';
import { embed } from './routes/embed.ts';
import { expireReveals } from './trust/spot-checks.ts';
import { expireFinalReveals } from './lineage/checkpoints.ts';
import { sweepDatasets } from './dataset-sweep.ts';
import { sequenceLedger } from './ledger-sequencer.ts';
import { archiveCold } from './archive/index.ts';

/** The ExecutionContext, absent when tests call `app.request()`. */
function executionCtx(c: Context): Context['executionCtx'] | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

export { CampaignHub } from './hub.ts';
export { CampaignQueue } from './queue/campaign-queue.ts';
export { LedgerSequencer } from './ledger-sequencer.ts';
import { allShards, shardEnv } from './shards.ts';

// The Worker: /embed first, then everything else to the API app unchanged (its 404s and errors);
// and a cron (wrangler.toml [triggers]) that fails spot checks whose checkpoint was not revealed
// in time (trust/spot-checks.ts) and passes over lineage checkpoints not uploaded in time
// (lineage/checkpoints.ts), chains the ledger's waiting entries (ledger-sequencer.ts), removes
// dataset uploads and files abandoned for a day (dataset-sweep.ts), and moves finished campaigns'
// cold rows and the ledger's sealed prefix to R2 (archive/index.ts).
const worker = new Hono<AppEnv>()
  .route('/', embed)
  .all('*', (c) => api.fetch(c.req.raw, c.env, executionCtx(c)));
export default Object.assign(worker, {
  scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext) {
    // Per D1 shard (shards.ts): each holds its own campaigns, spot checks, ledger and cold rows.
    for (const [k] of allShards(env).entries()) {
      const shard = shardEnv(env, k);
      ctx.waitUntil(expireReveals(shard.DB, Date.now()));
      // Then chains what the expiries decided, and any entry whose request ended before its call.
      ctx.waitUntil(
        expireFinalReveals(shard.DB, shard.CHECKPOINTS, Date.now()).finally(() =>
          sequenceLedger(shard),
        ),
      );
      ctx.waitUntil(archiveCold(shard.DB, shard.CHECKPOINTS, Date.now()));
    }
    ctx.waitUntil(sweepDatasets(env.CHECKPOINTS, env.DB, Date.now())); // uploads live in shard 0
  },
});
