// The benchmark page (web/bench.html, scripts/lib/bench-browser.ts) in Firefox ESR: the same built
// page, served the same way (cross-origin isolated unless asked not to be), driven through
// `window.tabgridBench` over WebDriver BiDi (e2e/firefox.ts). `npm run calibrate` uses it to
// measure Firefox's backends next to Chromium's.
import type { AddressInfo } from 'node:net';
import type { BenchRequest, BenchResult } from '../web/src/bench/types.ts';
import { buildBenchPage, serveBenchPage } from '../scripts/lib/bench-browser.ts';
import { firefoxTab, launchFirefox } from './firefox.ts';
import { startXvfb, type Xvfb } from './xvfb.ts';

export interface FirefoxBench {
  run(req: BenchRequest): Promise<BenchResult>;
  /** What the page reports: cross-origin isolation (WASM threads) and the browser's version. */
  crossOriginIsolated: boolean;
  version: string;
  close(): Promise<void>;
}

export interface FirefoxBenchOptions {
  /**
   * COOP/COEP and SharedArrayBuffer, hence TensorFlow.js's threaded WASM build (default). false:
   * served without them, as on a site that is not cross-origin isolated: the single-threaded build.
   */
  isolated?: boolean;
  /** Headful on a virtual display (e2e/xvfb.ts), where Firefox has WebGL (Mesa's llvmpipe). */
  display?: boolean;
  /**
   * Per run, how long backend initialisation may take before the run is retried in a fresh page:
   * under WebDriver BiDi, Firefox ESR 153 stalls 20–50 % of the threaded build's starts
   * (e2e/firefox.ts, sharedMemory). Default 60 s; training itself has no limit.
   */
  startTimeoutMs?: number;
}

/**
 * Firefox with the benchmark page; each run() trains in a fresh worker, and one whose backend has
 * not started within startTimeoutMs is retried (up to 5 times) after reloading the page.
 */
export async function openFirefoxBench(
  log: (line: string) => void,
  options: FirefoxBenchOptions = {},
): Promise<FirefoxBench> {
  const isolated = options.isolated ?? true;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  await buildBenchPage(log);
  const server = await serveBenchPage({ isolated });
  const { port } = server.address() as AddressInfo;
  let xvfb: Xvfb | undefined;
  let firefox: Awaited<ReturnType<typeof launchFirefox>> | undefined;
  try {
    xvfb = options.display ? await startXvfb() : undefined;
    firefox = await launchFirefox({
      protocolTimeout: 0,
      sharedMemory: isolated,
      display: xvfb?.display,
    });
    const { page } = await firefoxTab(firefox.browser);
    let started = false; // the bench worker logs "<backend>: {info}" once its backend works
    page.on('console', (m) => {
      const text = m.text();
      if (/^\w+: \{"backend"/.test(text)) started = true;
      if (!/ step \d/.test(text)) log(`  [firefox] ${text}`);
    });
    page.on('pageerror', (e) => log(`  [firefox error] ${(e as Error).message ?? String(e)}`));
    const open = async () => {
      await page.goto(`http://127.0.0.1:${port}/bench.html`);
      await page.waitForFunction(() => 'tabgridBench' in window);
    };
    await open();
    const coi = await page.evaluate(() => window.tabgridBench.crossOriginIsolated);
    if (coi !== isolated)
      throw new Error(`the Firefox bench page is ${coi ? '' : 'not '}cross-origin isolated`);
    const run = async (req: BenchRequest): Promise<BenchResult> => {
      for (let attempt = 1; ; attempt++) {
        started = false;
        const result = page.evaluate((r) => window.tabgridBench.run(r), req);
        const stalled = new Promise<'stalled'>((resolve) => {
          const check = setInterval(() => {
            if (started) clearInterval(check);
          }, 200);
          setTimeout(() => {
            clearInterval(check);
            if (!started) resolve('stalled');
          }, startTimeoutMs);
        });
        const outcome = await Promise.race([result, stalled]);
        if (outcome !== 'stalled') return outcome;
        result.catch(() => undefined); // the reload below ends it
        if (attempt >= 5)
          throw new Error(`${req.backend}: the backend did not start, ${attempt} tries`);
        log(
          `  [firefox] ${req.backend} did not start in ${startTimeoutMs / 1000} s: reloading (try ${attempt + 1})`,
        );
        await open();
      }
    };
    const browser = firefox;
    return {
      run,
      crossOriginIsolated: coi,
      version: await browser.browser.version(),
      async close() {
        await browser.close();
        xvfb?.close();
        server.close();
      },
    };
  } catch (err) {
    await firefox?.close();
    xvfb?.close();
    server.close();
    throw err;
  }
}
