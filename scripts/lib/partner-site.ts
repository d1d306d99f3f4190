// A demo partner site on its own origin: an article page with the one-line widget embed, and a
// PerformanceObserver that records the page's long tasks (window.__longTasks); /cloaked is the
// same page with a decoy laid over the widget that lets clicks through. The widget e2e test
// and `npm run bench:page` open it in Chromium next to a local edge.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PartnerSiteOptions {
  edge: string; // e.g. http://localhost:8790
  partnerId: string;
  backend?: 'wasm' | 'webgpu' | 'cpu';
  campaignId?: string;
  port?: number; // 0 (default): any free port
}

export interface PartnerSite {
  origin: string; // http://localhost:PORT, the origin to register for the partner
  close(): Promise<void>;
}

/** One long task on the partner page's main thread (or a frame in its process), as recorded. */
export interface LongTask {
  start: number;
  duration: number;
  name: string; // 'self', 'same-origin-descendant', 'cross-origin-descendant', …
  container: string; // the frame's src when the task ran in a frame
}

const CLOAK_CSS = `
  aside { position: relative; }
  .decoy { position: absolute; inset: 0; background: #fffdf8; opacity: 0.97; pointer-events: none;
    display: grid; place-items: center; font-size: 1.5rem; }`;

const escapeAttr = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** `cloaked`: the page lays a decoy over the widget that lets clicks through (clickjacking). */
export function partnerPage(o: PartnerSiteOptions, cloaked = false): string {
  const attrs = [
    `src="${escapeAttr(`${o.edge}/widget.js`)}"`,
    `data-partner="${escapeAttr(o.partnerId)}"`,
    o.backend && `data-backend="${o.backend}"`,
    o.campaignId && `data-campaign="${escapeAttr(o.campaignId)}"`,
    'async',
  ].filter(Boolean);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The Daily Example</title>
<script>
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const a = e.attribution && e.attribution[0];
      window.__longTasks.push({ start: e.startTime, duration: e.duration, name: e.name, container: (a && a.containerSrc) || '' });
    }
  }).observe({ type: 'longtask', buffered: true });
</script>
<style>
  body { font-family: Georgia, serif; color: #222; background: #fffdf8; max-width: 44rem; margin: 0 auto; padding: 1.5rem; line-height: 1.6; }
  header { border-bottom: 3px double #222; margin-bottom: 1rem; }
  h1 { font-size: 2rem; margin: 0 0 0.5rem; letter-spacing: 0.02em; }
  aside { border-left: 4px solid #c33; padding: 0.5rem 1rem; margin: 1.5rem 0; background: #fff; }
  aside h3 { margin: 0 0 0.5rem; font-size: 1rem; text-transform: uppercase; letter-spacing: 0.05em; }${cloaked ? CLOAK_CSS : ''}
</style>
</head>
<body>
<header><h1>The Daily Example</h1></header>
<article>
  <h2>Town library extends its Thursday hours</h2>
  <p>The library on Main Street will stay open until nine on Thursdays from next month, the council
  said on Tuesday, after a survey found that most visitors come after work.</p>
  <aside>
    <h3>Support open research from this page</h3>
    <script ${attrs.join(' ')}></script>${cloaked ? '\n    <div class="decoy">Click the blue button to win a prize!</div>' : ''}
  </aside>
  <p>The extra hours are funded for one year. Volunteers from the reading club will run a homework
  corner on those evenings.</p>
</article>
</body>
</html>`;
}

export async function startPartnerSite(o: PartnerSiteOptions): Promise<PartnerSite> {
  const pages: Record<string, string> = { '/': partnerPage(o), '/cloaked': partnerPage(o, true) };
  const server: Server = createServer((req, res) => {
    const html = pages[new URL(req.url ?? '/', 'http://x').pathname];
    if (html) {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.end(html);
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204).end(); // no 404 in the partner page's console
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
