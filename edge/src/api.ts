// The API: a Hono app under /api — every route, its middleware (security headers, no-store, the
// per-address rate limit), one 404 and one error handler. edge/src/index.ts serves it as the Worker.
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { ApiError } from '../../shared/protocol.ts';
import type { AppEnv } from './env.ts';
import { ApiFailure, type ErrorCode } from './errors.ts';
import { doc, openApiDocument, referencePage } from './openapi.ts';
import { ipRateLimit } from './rate-limit.ts';
import { live } from './live.ts';
import { campaignViews } from './routes/campaign-views.ts';
import { campaigns } from './routes/campaigns.ts';
import { corpus } from './routes/corpus.ts';
import { datasetUploads } from './routes/dataset-uploads.ts';
import { datasets } from './routes/datasets.ts';
import { experiments } from './routes/experiments.ts';
import { leaderboards } from './routes/leaderboards.ts';
import { leases } from './routes/leases.ts';
import { partners } from './routes/partners.ts';
import { results } from './routes/results.ts';
import { checkpoints, continuations, finalCheckpoints } from './routes/lineage.ts';
import { ledger, spotChecks } from './routes/trust.ts';
import { volunteerKeys } from './routes/volunteer-keys.ts';
import { volunteers } from './routes/volunteers.ts';

export const api = new Hono<AppEnv>().basePath('/api');

// WebSocket upgrades first: secureHeaders throws on a 101 response (docs/edge.md), and a handler that
// answers without calling next() never reaches the middleware registered after it.
api.route('/campaigns', live);

api.use(secureHeaders({ crossOriginResourcePolicy: 'same-origin' }));
api.use(async (c, next) => {
  await next();
  // no-store, but for what a route marks cacheable itself (content-addressed checkpoints)
  if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
});

api.use(ipRateLimit);

api.get('/health', doc({ summary: 'Liveness: {"ok": true}.', errors: [] }), (c) =>
  c.json({ ok: true }),
);
api.get('/openapi.json', async (c) => c.json(await openApiDocument(api)));
api.get('/docs', async (c) => {
  c.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
  return c.html(referencePage(await openApiDocument(api)));
});
// Mounted in this order (a path with two apps tries the first one's routes first).
const ROUTES: [string, Hono<AppEnv>][] = [
  ['/volunteers/keys', volunteerKeys],
  ['/volunteers', volunteers],
  ['/leases', leases],
  ['/results', results],
  ['/results/spot-checks', spotChecks],
  ['/results', finalCheckpoints],
  ['/checkpoints', checkpoints],
  ['/ledger', ledger],
  ['/campaigns', campaigns],
  ['/campaigns', campaignViews],
  ['/campaigns', continuations],
  ['/experiments', experiments],
  ['/leaderboards', leaderboards],
  ['/corpus', corpus],
  ['/datasets/uploads', datasetUploads],
  ['/datasets', datasets],
  ['/partners', partners],
];
for (const [path, app] of ROUTES) api.route(path, app);

// The path as sent (still percent-encoded): c.req.path is decoded and would echo control characters.
api.notFound((c) =>
  c.json<ApiError>(
    { error: 'not_found', message: `No API route ${c.req.method} ${new URL(c.req.url).pathname}.` },
    404,
  ),
);
/**
 * Refusals a client should retry, and after how long: a rate limit's window (wrangler.toml
 * [[ratelimits]] period), and a verdict that lost its races (the result is stored; a resend finishes it).
 */
const RETRY_AFTER_SEC: Partial<Record<ErrorCode, number>> = { rate_limited: 10, busy: 1 };

api.onError((err, c) => {
  if (err instanceof ApiFailure) {
    const retryAfter = RETRY_AFTER_SEC[err.code];
    return c.json<ApiError>(
      { error: err.code, message: err.message, ...(err.issues && { issues: err.issues }) },
      err.status,
      retryAfter ? { 'Retry-After': String(retryAfter) } : undefined,
    );
  }
  if (err instanceof SyntaxError)
    return c.json<ApiError>(
      { error: 'invalid_json', message: 'The request body is not valid JSON.' },
      400,
    );
  console.error(err);
  return c.json<ApiError>(
    { error: 'internal', message: 'The edge failed to handle this request.' },
    500,
  );
});
