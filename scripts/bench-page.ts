// `npm run bench:page`: what the widget costs a partner page and its visitors, in headless
// Chromium (Debian's, never a downloaded one) against a local edge.
//
// Builds what is stale, starts `wrangler dev` on --port with a fresh --persist state, seeds a
// campaign of tiny experiments, serves a demo partner page on another origin (the one-line embed),
// registers it with `npm run partner`, and then:
//   cold: a new browser profile (empty HTTP cache and IndexedDB) opens the partner page; the time
//         from the click on Start inside the frame to the first training step on screen;
//   warm: the same profile reloads the page (the worker chunk in the HTTP cache, key and dataset in
//         IndexedDB) and clicks again; then, while it keeps training, the bytes on the wire (headers
//         and bodies, every request of the page, its frame and its worker) from one submitted
//         result to the next, averaged over --tasks experiments;
//   sizes: dist/widget.js and the app the frame loads before the click (HTML, JS, CSS), gzipped
//         (level 9, as a CDN would send them), and the worker chunk that loads after the click.
// Targets (the partner issue): first step ≤ 5 s cold and ≤ 2 s warm, widget ≤ 10 KB gzipped,
// ≤ 8 KB per experiment once the dataset is cached. The network is loopback, so download times are
// a lower bound of a real visitor's.
//
//   npm run bench:page -- [--json] [--backend wasm|webgpu|cpu] [--tasks 3] [--port 8797] [--persist .wrangler/bench-page]
// With --json the last line of stdout is one JSON object:
//   {clickToFirstStepMsCold, clickToFirstStepMsWarm, widgetBytesGzip, volunteerBundleBytesGzip,
//    bytesPerTaskAfterCache, ...details}
import { chromium, type Frame, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { CHROMIUM_ARGS } from '../playwright.config.ts';
import { tinyCampaign } from './lib/campaigns.ts';
import { prepareLocalApp } from './lib/local-app.ts';
import { seedCampaign, startDev, waitForHealth } from './lib/local-edge.ts';
import { startPartnerSite, type LongTask } from './lib/partner-site.ts';
import { ROOT } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'wasm' },
    tasks: { type: 'string', default: '3' },
    port: { type: 'string', default: '8797' },
    persist: { type: 'string', default: '.wrangler/bench-page' },
  },
});
const backend = values.backend as 'wasm' | 'webgpu' | 'cpu';
if (!['wasm', 'webgpu', 'cpu'].includes(backend)) {
  throw new Error('--backend is wasm, webgpu or cpu');
}
const TASKS = Math.max(1, Number(values.tasks) || 3);
const PARTNER = 'bench-partner';
const CAMPAIGN = 'bench-page';
const log = (...a: unknown[]) => console.error(...a); // stdout is for the report

// ---- sizes of what is built ----------------------------------------------------------------------
const DIST = join(ROOT, 'dist');
const gz = (path: string) => gzipSync(readFileSync(path), { level: 9 }).length;

function bundleSizes() {
  const assets = readdirSync(join(DIST, 'assets'));
  const index = readFileSync(join(DIST, 'index.html'), 'utf8');
  // What the frame loads before the click: the HTML and every script and stylesheet it links.
  const linked = [...index.matchAll(/(?:src|href)="\/assets\/([^"]+\.(?:js|css))"/g)].map(
    (m) => m[1]!,
  );
  const worker = assets.find((f) => /^trainer\.worker-.*\.js$/.test(f));
  return {
    widgetBytesGzip: gz(join(DIST, 'widget.js')),
    volunteerBundleBytesGzip:
      gz(join(DIST, 'index.html')) + linked.reduce((n, f) => n + gz(join(DIST, 'assets', f)), 0),
    workerBundleBytesGzip: worker ? gz(join(DIST, 'assets', worker)) : null, // TensorFlow.js: after the click
  };
}

// ---- the edge and the partner site --------------------------------------------------------------
const persist = resolve(ROOT, values.persist);
rmSync(persist, { recursive: true, force: true });
const { manifest, manifestSha256 } = await prepareLocalApp(persist);
const tiny = tinyCampaign(manifest, manifestSha256);
const specs = Array.from({ length: TASKS + 4 }, (_, i) => ({ ...tiny.specs[0]!, seed: 100 + i }));
await seedCampaign(persist, { ...tiny, id: CAMPAIGN, name: 'Page benchmark', specs });

const edge = `http://localhost:${values.port}`;
const site = await startPartnerSite({ edge, partnerId: PARTNER, backend, campaignId: CAMPAIGN });
execFileSync(
  process.execPath,
  [
    join(ROOT, 'scripts/partner.ts'),
    'add',
    PARTNER,
    'Bench Partner',
    site.origin,
    '--persist',
    persist,
  ],
  { stdio: ['ignore', 2, 2] },
);
const dev = startDev(Number(values.port), persist, { output: 'stderr' });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});

try {
  await waitForHealth(edge, dev);
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => log('page error:', e.message));
  // Every finished request of the context (page, frame, worker), with its wire size.
  const wire: { at: number; url: string; bytes: number }[] = [];
  context.on('requestfinished', async (req) => {
    const at = Date.now();
    const s = await req.sizes().catch(() => null);
    if (s) {
      wire.push({
        at,
        url: req.url(),
        bytes:
          s.requestHeadersSize + s.requestBodySize + s.responseHeadersSize + s.responseBodySize,
      });
    }
  });

  const cold = await clickToFirstStep(page, site.origin);
  log(`cold: first step ${cold.ms.toFixed(0)} ms after the click`);
  await waitForSubmitted(cold.frame, 1);
  const warm = await clickToFirstStep(page, site.origin);
  log(`warm: first step ${warm.ms.toFixed(0)} ms after the click`);
  // Steady state: from one submitted result to the next, TASKS times.
  const marks = [await waitForSubmitted(warm.frame, 1)];
  for (let k = 2; k <= TASKS + 1; k++) marks.push(await waitForSubmitted(warm.frame, k));
  await page.waitForTimeout(500); // let the last requestfinished events arrive
  const between = wire.filter((w) => w.at > marks[0]! && w.at <= marks.at(-1)!);
  const bytesPerTaskAfterCache = Math.round(between.reduce((n, w) => n + w.bytes, 0) / TASKS);
  const longTasks = await page.evaluate(
    (since) =>
      (window as unknown as { __longTasks: LongTask[] }).__longTasks.filter(
        (t) => t.start >= since,
      ),
    warm.clickedAt,
  );
  const perUrl = new Map<string, number>();
  for (const w of between) {
    const key = new URL(w.url).pathname.replace(/\/l_[\w-]+\//, '/:id/');
    perUrl.set(key, (perUrl.get(key) ?? 0) + w.bytes);
  }
  log(
    'bytes per steady-state experiment, by path:',
    Object.fromEntries([...perUrl].map(([k, v]) => [k, Math.round(v / TASKS)])),
  );

  const report = {
    clickToFirstStepMsCold: Math.round(cold.ms),
    clickToFirstStepMsWarm: Math.round(warm.ms),
    ...bundleSizes(),
    bytesPerTaskAfterCache,
    backend,
    tasksMeasured: TASKS,
    partnerLongTasksAfterClick: longTasks.length,
    coldDatasetBytes: readdirSync(join(DIST, 'data', manifest.id)).reduce(
      (n, f) => n + readFileSync(join(DIST, 'data', manifest.id, f)).length,
      0,
    ),
  };
  if (values.json) console.log(JSON.stringify(report));
  else {
    const target = (ok: boolean) => (ok ? 'ok' : 'OVER TARGET');
    console.log(
      `click → first step, cold     ${report.clickToFirstStepMsCold} ms   (target ≤ 5000: ${target(report.clickToFirstStepMsCold <= 5000)})`,
    );
    console.log(
      `click → first step, warm     ${report.clickToFirstStepMsWarm} ms   (target ≤ 2000: ${target(report.clickToFirstStepMsWarm <= 2000)})`,
    );
    console.log(
      `widget.js, gzipped           ${report.widgetBytesGzip} B   (target ≤ 10240: ${target(report.widgetBytesGzip <= 10240)})`,
    );
    console.log(`frame's app before the click ${report.volunteerBundleBytesGzip} B gzipped`);
    console.log(`worker (TF.js) after click   ${report.workerBundleBytesGzip} B gzipped`);
    console.log(
      `network per experiment       ${report.bytesPerTaskAfterCache} B   (target ≤ 8192: ${target(report.bytesPerTaskAfterCache <= 8192)})`,
    );
    console.log(
      `long tasks on the partner page after the click: ${report.partnerLongTasksAfterClick}`,
    );
  }
} finally {
  await browser.close();
  if (dev.exitCode === null) dev.kill('SIGTERM');
  await site.close();
}

/** Opens (or reloads) the partner page, clicks Start in the widget, and times the first step. */
async function clickToFirstStep(
  page: Page,
  url: string,
): Promise<{ ms: number; frame: Frame; clickedAt: number }> {
  await page.goto(url);
  const frame = await widgetFrame(page);
  await frame.getByTestId('partner-name').waitFor();
  // Chromium drops clicks on a cross-origin frame that moved or resized in the last ~500 ms, and
  // the loader resizes the frame once its content is in: let it settle, as a visitor's eye would.
  await page.waitForTimeout(1000);
  // Both instants inside the frame: the click as it is dispatched, and the step as it is rendered.
  await frame.evaluate(() => {
    const w = window as unknown as { __clickAt?: number; __firstStepAt?: number };
    window.addEventListener('click', () => (w.__clickAt = performance.now()), {
      capture: true,
      once: true,
    });
    new MutationObserver((_, observer) => {
      if (/^\d+ \/ \d+$/.test(document.querySelector('[data-testid="step"]')?.textContent ?? '')) {
        w.__firstStepAt = performance.now();
        observer.disconnect();
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const clickedAt = await page.evaluate(() => performance.now());
  await frame.getByRole('button', { name: 'Start' }).click();
  await frame
    .waitForFunction(
      () => (window as unknown as { __firstStepAt?: number }).__firstStepAt !== undefined,
      null,
      { timeout: 120_000 },
    )
    .catch(async (err) => {
      await page.screenshot({
        path: join(ROOT, 'test-results', 'bench-page-failure.png'),
        fullPage: true,
      });
      throw new Error(
        `no training step: the widget says "${await frame.locator('[role="status"], [role="alert"]').allTextContents()}"`,
        { cause: err },
      );
    });
  const ms = await frame.evaluate(() => {
    const w = window as unknown as { __clickAt: number; __firstStepAt: number };
    return w.__firstStepAt - w.__clickAt;
  });
  return { ms, frame, clickedAt };
}

async function widgetFrame(page: Page): Promise<Frame> {
  for (let i = 0; i < 200; i++) {
    const frame = page.frames().find((f) => new URL(f.url(), 'http://x').pathname === '/embed');
    if (frame) return frame;
    await page.waitForTimeout(50);
  }
  throw new Error('the widget frame did not appear');
}

/** Waits until the widget shows `n` results sent; returns when (Date.now()). */
async function waitForSubmitted(frame: Frame, n: number): Promise<number> {
  await frame.waitForFunction(
    (k) => Number(document.querySelector('[data-testid="submitted"]')?.textContent) >= k,
    n,
    { timeout: 180_000, polling: 20 },
  );
  return Date.now();
}
