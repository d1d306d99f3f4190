// GET /embed?partner=ID: the widget's page, framed on a partner's site by /widget.js. It is the
// SPA's own index.html (App.svelte routes /embed to Embed.svelte), served with the headers every
// page gets from public/_headers, except that the partner's registered origins, and only those,
// may frame it. Every other page keeps `frame-ancestors 'none'`.
import { Hono } from 'hono';
import { PartnerId } from '../../../shared/protocol.ts';
import { findPartner } from '../db/partners.ts';
import { clientAddress } from '../client-address.ts';
import type { AppEnv } from '../env.ts';
import { homeDb } from '../shards.ts';

/** `csp` with its frame-ancestors directive replaced by one allowing exactly `origins`. */
export function withFrameAncestors(csp: string, origins: string[]): string {
  const directives = csp
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d && !/^frame-ancestors\b/i.test(d));
  directives.push(`frame-ancestors ${origins.length ? origins.join(' ') : "'none'"}`);
  return directives.join('; ');
}

const NOT_FOUND_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="color-scheme" content="light dark"><title>Unknown partner · Tabgrid</title>
<style>body{font-family:system-ui,sans-serif;margin:1rem;line-height:1.5}</style></head>
<body><p>This Tabgrid widget names no registered partner, so it cannot run here.</p></body></html>`;

export const embed = new Hono<AppEnv>().get('/embed', async (c) => {
  // The same per-address limit as the API: each view reads D1 and the asset store.
  const { success } = await c.env.IP_LIMITER.limit({
    key: clientAddress(c) ?? 'local',
  });
  if (!success) {
    const message = 'Too many requests from this address; retry in a few seconds.';
    return c.text(message, 429, { 'Retry-After': '10' });
  }
  const id = c.req.query('partner') ?? '';
  const partner = PartnerId.safeParse(id).success ? await findPartner(homeDb(c.env), id) : null;
  if (!partner) {
    c.header(
      'Content-Security-Policy',
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    );
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Cache-Control', 'no-store');
    return c.html(NOT_FOUND_PAGE, 404);
  }
  // '/' rather than '/index.html', which the asset server redirects to '/'. The response carries
  // public/_headers' COOP, COEP and CSP, so the policy stays written once.
  const page = await c.env.ASSETS.fetch(new URL('/', c.req.url));
  if (!page.ok) throw new Error(`the app shell is not served (${page.status})`);
  const headers = new Headers(page.headers);
  headers.set(
    'Content-Security-Policy',
    withFrameAncestors(
      headers.get('Content-Security-Policy') ?? "default-src 'self'",
      partner.origins,
    ),
  );
  // A framed document ignores its own COOP, so `same-origin` stays (it isolates direct visits).
  // COEP require-corp stays for WASM threads when the partner page is itself isolated; CORP must
  // then let the partner's page embed this response.
  headers.set('Cross-Origin-Resource-Policy', 'cross-origin');
  headers.delete('X-Frame-Options');
  // The origins may change with `npm run partner`: no stale copy with an old frame-ancestors.
  headers.set('Cache-Control', 'no-store');
  headers.delete('ETag');
  return new Response(page.body, { status: 200, headers });
});
