// The Tabgrid edge: a Hono app on Cloudflare Workers. /api/* runs here; everything else is the
// built web app, served by Workers Static Assets from the same origin.
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { ApiError } from '../../shared/protocol.ts';
import type { AppEnv } from './env.ts';
import { ApiFailure } from './errors.ts';
import { openApiDocument, referencePage } from './openapi.ts';
import { ipRateLimit } from './rate-limit.ts';
import { campaigns } from './routes/campaigns.ts';
import { leases } from './routes/leases.ts';
import { results } from './routes/results.ts';
import { volunteers } from './routes/volunteers.ts';

const app = new Hono<AppEnv>().basePath('/api');

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
app.route('/volunteers', volunteers);
app.route('/leases', leases);
app.route('/results', results);
app.route('/campaigns', campaigns);

app.notFound((c) => c.json<ApiError>({ error: 'not_found', message: `No API route ${c.req.method} ${c.req.path}.` }, 404));
app.onError((err, c) => {
  if (err instanceof ApiFailure) {
    return c.json<ApiError>({ error: err.code, message: err.message, ...(err.issues && { issues: err.issues }) }, err.status);
  }
  if (err instanceof SyntaxError) return c.json<ApiError>({ error: 'invalid_json', message: 'The request body is not valid JSON.' }, 400);
  console.error(err);
  return c.json<ApiError>({ error: 'internal', message: 'The edge failed to handle this request.' }, 500);
});

export default app;
