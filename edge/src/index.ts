// The Tabgrid edge: a Hono app on Cloudflare Workers. /api/* runs here, and /embed (the widget's
// page, with per-partner framing headers); everything else is the built web app, served by
// Workers Static Assets from the same origin.
import { Hono, type Context } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { ApiError } from '../../shared/protocol.ts';
import type { AppEnv } from './env.ts';
import { ApiFailure } from './errors.ts';
import { openApiDocument, referencePage } from './openapi.ts';
import { ipRateLimit } from './rate-limit.ts';
import { live } from './live.ts';
import { campaignViews } from './routes/campaign-views.ts';
import { campaigns } from './routes/campaigns.ts';
import { corpus } from './routes/corpus.ts';
import { datasets } from './routes/datasets.ts';
import { embed } from './routes/embed.ts';
import { experiments } from './routes/experiments.ts';
import { leaderboards } from './routes/leaderboards.ts';
import { leases } from './routes/leases.ts';
import { partners } from './routes/partners.ts';
import { results } from './routes/results.ts';
import { ledger, spotChecks } from './routes/trust.ts';
import { expireReveals } from './trust/spot-checks.ts';
import { volunteerKeys } from './routes/volunteer-keys.ts';
import { volunteers } from './routes/volunteers.ts';

const app = new Hono<AppEnv>().basePath('/api');

// WebSocket upgrades first: secureHeaders throws on a 101 response (docs/edge.md), and a handler that
// answers without calling next() never reaches the middleware registered after it.
app.route('/campaigns', live);

app.use(secureHeaders({ crossOriginResourcePolicy: 'same-origin' }));
app.use(async (c, next) => {
  await next();
  c.header('Cache-Control', 'no-store');
});

app.use(ipRateLimit);

app.get('/health', (c) => c.json({ ok: true }));
app.get('/openapi.json', (c) => c.json(openApiDocument()));
app.get('/docs', (c) => {
  c.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
  return c.html(referencePage());
});
app.route('/volunteers/keys', volunteerKeys);
app.route('/volunteers', volunteers);
app.route('/leases', leases);
app.route('/results', results);
app.route('/results/spot-checks', spotChecks);
app.route('/ledger', ledger);
app.route('/campaigns', campaigns);
app.route('/campaigns', campaignViews);
app.route('/experiments', experiments);
app.route('/leaderboards', leaderboards);
app.route('/corpus', corpus);
app.route('/datasets', datasets);
app.route('/partners', partners);

// The path as sent (still percent-encoded): c.req.path is decoded and would echo control characters.
app.notFound((c) => c.json<ApiError>({ error: 'not_found', message: `No API route ${c.req.method} ${new URL(c.req.url).pathname}.` }, 404));
app.onError((err, c) => {
  if (err instanceof ApiFailure) {
    return c.json<ApiError>({ error: err.code, message: err.message, ...(err.issues && { issues: err.issues }) }, err.status);
  }
  if (err instanceof SyntaxError) return c.json<ApiError>({ error: 'invalid_json', message: 'The request body is not valid JSON.' }, 400);
  console.error(err);
  return c.json<ApiError>({ error: 'internal', message: 'The edge failed to handle this request.' }, 500);
});

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

// The Worker: /embed first, then everything else to the API app unchanged (its 404s and errors);
// and a cron (wrangler.toml [triggers]) that fails spot checks whose checkpoint was not revealed
// in time (trust/spot-checks.ts).
const worker = new Hono<AppEnv>().route('/', embed).all('*', (c) => app.fetch(c.req.raw, c.env, executionCtx(c)));
export default Object.assign(worker, {
  scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext) {
    ctx.waitUntil(expireReveals(env.DB, Date.now()));
  },
});
