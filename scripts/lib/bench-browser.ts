// Runs trainer benchmarks in real headless Chromium: builds web/bench.html (the shared loop in a Web
// Worker) into a cache folder, serves it and the built datasets with cross-origin isolation (so
// WASM gets its threads), and hands each request to the page. Used by bench-train.ts and calibrate.ts.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright';
import { CHROMIUM_ARGS } from '../../playwright.config.ts';
import type { BenchRequest, BenchResult } from '../../web/src/bench/types.ts';
import { isStale } from './stale.ts';
import { ROOT } from './wrangler.ts';

// TABGRID_BENCH_OUT: another build folder, so that two runs at once do not rebuild under each other.
const DEFAULT_OUT =
  process.env.TABGRID_BENCH_OUT ?? join(ROOT, 'node_modules', '.cache', 'tabgrid-bench');
const DATA = join(ROOT, 'public', 'data');
const INPUTS = [
  'web/bench.html',
  'web/src/bench',
  'web/src/worker/backend.ts',
  'shared',
  'vite.config.ts',
  'package-lock.json',
];

/** Builds the benchmark page alone (the app's Vite config, one input) into `out`, unless up to date. */
export async function buildBenchPage(
  log: (line: string) => void,
  out = DEFAULT_OUT,
  force = false,
): Promise<void> {
  if (!force && !isStale(join(out, 'bench.html'), INPUTS)) return;
  const { build, loadConfigFromFile } = await import('vite');
  const loaded = await loadConfigFromFile(
    { command: 'build', mode: 'production' },
    join(ROOT, 'vite.config.ts'),
  );
  if (!loaded) throw new Error('vite.config.ts did not load');
  const t0 = performance.now();
  await build({
    ...loaded.config,
    configFile: false,
    root: join(ROOT, 'web'),
    publicDir: false, // the datasets are served from public/data directly
    logLevel: 'warn',
    build: {
      ...loaded.config.build,
      outDir: out,
      emptyOutDir: true,
      rolldownOptions: { input: { bench: join(ROOT, 'web', 'bench.html') } },
    },
  });
  log(`bench page built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.css': 'text/css',
};

/**
 * A static server for the built page (`out`), /data/ and (given a folder) /ckpt/ — checkpoints a
 * lineage benchmark hands from one browser to the next — on 127.0.0.1; cross-origin isolated like
 * public/_headers (WASM threads) unless `isolated` is false. Also for Firefox and WebKit
 * (e2e/firefox-bench.ts).
 */
export function serveBenchPage(
  opts: { out?: string; checkpoints?: string; isolated?: boolean } = {},
): Promise<Server> {
  const out = opts.out ?? DEFAULT_OUT;
  const { checkpoints, isolated = true } = opts;
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/favicon.ico') return void res.writeHead(204).end();
    const [root, rel] = path.startsWith('/data/')
      ? [DATA, path.slice(6)]
      : checkpoints && path.startsWith('/ckpt/')
        ? [checkpoints, path.slice(6)]
        : [out, path === '/' ? 'bench.html' : path.slice(1)];
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      ...(isolated && {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
      }),
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export interface BenchSession {
  run(req: BenchRequest): Promise<BenchResult>;
  close(): Promise<void>;
}

/**
 * Starts the server and Chromium; each run() trains in a fresh worker of one page. `out` is a
 * built page (default: built now if stale), e.g. another variant of the code to compare with;
 * `checkpoints` a folder served at /ckpt/.
 */
export async function openBench(
  log: (line: string) => void,
  out?: string,
  checkpoints?: string,
): Promise<BenchSession> {
  if (!out) await buildBenchPage(log);
  const server = await serveBenchPage({ out, checkpoints });
  const { port } = server.address() as AddressInfo;
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
    });
    const page: Page = await browser.newPage();
    page.on('console', (m) => log(`  [page] ${m.text()}`));
    page.on('pageerror', (e) => log(`  [page error] ${e.message}`));
    // 127.0.0.1 is a secure context, like localhost (WebGPU and crypto.subtle need one).
    await page.goto(`http://127.0.0.1:${port}/bench.html`);
    await page.waitForFunction(() => 'tabgridBench' in window);
    if (!(await page.evaluate(() => window.tabgridBench.crossOriginIsolated)))
      throw new Error('the bench page is not cross-origin isolated');
    const b = browser;
    return {
      run: (req) => page.evaluate((r) => window.tabgridBench.run(r), req),
      async close() {
        await b.close();
        server.close();
      },
    };
  } catch (err) {
    await browser?.close();
    server.close();
    throw err;
  }
}
