// Firefox in the browser tests: Debian's Firefox ESR (`.ci/run` installs firefox-esr), driven by
// puppeteer-core over WebDriver BiDi from inside the Playwright specs, so that one webServer
// (playwright.config.ts) serves both engines and a spec can pair a Chromium volunteer with a
// Firefox one. Why not Playwright's own `moz-firefox` channel: Playwright 1.65 sends
// `emulation.setMediaFeaturesOverride` in every browser.newContext(), a BiDi command Firefox ESR
// 153 does not know ("unknown command"), so not even a page opens; puppeteer-core sends only what
// a test asks for. Its gaps on BiDi (no emulateMediaFeatures: CDP only) are covered with prefs.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from '@playwright/test';
import puppeteer, {
  type Browser,
  type BrowserContext,
  type ElementHandle,
  type Frame,
  type Page,
} from 'puppeteer-core';

export type { Browser as FirefoxBrowser, Page as FirefoxPage } from 'puppeteer-core';

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

export interface FirefoxOptions {
  /** prefers-color-scheme for every page (BiDi has no media emulation in Firefox ESR). */
  colorScheme?: 'light' | 'dark';
  /** Downloads land here without a dialog (default: a fresh temporary folder). */
  downloads?: string;
  /** Longest wait for one command (an evaluate that trains, for the benchmarks); 0: none. */
  protocolTimeout?: number;
  /**
   * SharedArrayBuffer, hence TensorFlow.js's threaded WASM build (default: off). Under a WebDriver
   * BiDi session Firefox ESR 153 intermittently stops a worker that creates nested workers: the
   * session's worker listener (remote/shared/js-process-actors/WebDriverWorkerListener*) makes
   * each nested worker wait for its debugger registration, and 20–50 % of the threaded build's
   * starts (a pool of 8 pthread workers created in a loop) stall for good. Measured on this
   * machine, 8 plain blob: workers created from a worker: 8/30 stalled with a bare BiDi session
   * (no subscriptions), 0/30 with the remote agent listening but no session, 0/120 without it.
   * Real users have no session; the tests take the single-threaded build (what a 2-core machine
   * gets anyway: one thread), and `npm run calibrate` measures the threaded one with retries.
   */
  sharedMemory?: boolean;
  /** An X display (e2e/xvfb.ts) to run headful on: Firefox has WebGL here only with one. */
  display?: string;
}

export interface LaunchedFirefox {
  browser: Browser;
  downloads: string;
  close(): Promise<void>;
}

/** Firefox ESR, headless unless given a display, with a fresh profile. */
export async function launchFirefox(options: FirefoxOptions = {}): Promise<LaunchedFirefox> {
  const downloads = options.downloads ?? mkdtempSync(join(tmpdir(), 'tabgrid-firefox-downloads-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: FIREFOX_PATH,
    headless: !options.display,
    ...(options.display && { env: { ...process.env, DISPLAY: options.display } }),
    protocolTimeout: options.protocolTimeout,
    extraPrefsFirefox: {
      // 0 dark, 1 light: the content's prefers-color-scheme.
      'layout.css.prefers-color-scheme.content-override': options.colorScheme === 'dark' ? 0 : 1,
      'browser.download.folderList': 2,
      'browser.download.dir': downloads,
      'browser.download.useDownloadDir': true,
      'browser.download.always_ask_before_handling_new_types': false,
      'browser.download.manager.showWhenStarting': false,
      'browser.helperApps.neverAsk.saveToDisk': 'application/json',
      'javascript.options.shared_memory': options.sharedMemory ?? false,
      'datareporting.policy.dataSubmissionEnabled': false,
      'toolkit.telemetry.reportingpolicy.firstRun': false,
    },
  });
  return { browser, downloads, close: () => browser.close() };
}

export interface FirefoxTab {
  page: Page;
  context: BrowserContext;
  /** Uncaught exceptions, console errors and server errors (5xx) of the page. */
  errors: string[];
  /** Content-Security-Policy violations reported in the page (securitypolicyviolation events). */
  cspViolations: CspViolation[];
  /** Documents loaded in the page so far. */
  loads: number;
}

export interface CspViolation {
  directive: string;
  blocked: string;
  file: string;
  line: number;
  column: number;
}

/**
 * A page in a new browser context of `browser`: its own cookies, storage and IndexedDB, so its
 * own volunteer key, like a separate Playwright context. `headers` go with every request
 * (e.g. scripts/lib/local-edge.ts's fromAddress).
 */
export async function firefoxTab(
  browser: Browser,
  options: { headers?: Record<string, string>; viewport?: { width: number; height: number } } = {},
): Promise<FirefoxTab> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport(options.viewport ?? { width: 1280, height: 900 });
  if (options.headers) await page.setExtraHTTPHeaders(options.headers);
  const errors: string[] = [];
  const cspViolations: CspViolation[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${(e as Error).message ?? String(e)}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 500) errors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  // The page's own report of what its CSP blocked, with the blocking source's location.
  await page.exposeFunction('__tabgridCsp', (v: CspViolation) => void cspViolations.push(v));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = (window as unknown as { __tabgridCsp?: (v: CspViolation) => void })
        .__tabgridCsp;
      report?.({
        directive: e.effectiveDirective,
        blocked: e.blockedURI,
        file: e.sourceFile,
        line: e.lineNumber,
        column: e.columnNumber,
      });
    });
  });
  const tab: FirefoxTab = { page, context, errors, cspViolations, loads: 0 };
  page.on('load', () => void tab.loads++);
  return tab;
}

/** The text of the element with `data-testid`, or null where there is none. */
export function testIdText(page: Page | Frame, testId: string): Promise<string | null> {
  return page.evaluate(
    (id) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() ?? null,
    testId,
  );
}

/** Waits until the element with `data-testid` reads `expected` (a string must match exactly). */
export async function expectTestId(
  page: Page | Frame,
  testId: string,
  expected: string | RegExp,
  timeout = 30_000,
): Promise<void> {
  const poll = expect.poll(() => testIdText(page, testId), {
    timeout,
    message: `[data-testid=${testId}] in Firefox`,
  });
  try {
    if (typeof expected === 'string') await poll.toBe(expected);
    else await poll.toMatch(expected);
  } catch (err) {
    // Playwright's failure screenshot shows its own pages only: keep what Firefox showed too.
    const path = `test-results/firefox/failed-${testId}-${Date.now()}.png`;
    await shoot('parentFrame' in page ? page.page() : page, path).catch(() => undefined);
    throw Object.assign(err as Error, {
      message: `${(err as Error).message}\nFirefox page: ${path}`,
    });
  }
}

/** The enabled button whose text matches `name` (waits for it), clicked with real input events. */
export async function clickButton(page: Page | Frame, name: string | RegExp, timeout = 30_000) {
  const button = await findButton(page, name, timeout);
  await button.click();
}

/** Waits for the enabled button whose text matches `name` (a string must match all of it). */
export async function findButton(
  page: Page | Frame,
  name: string | RegExp,
  timeout = 30_000,
): Promise<ElementHandle<HTMLButtonElement>> {
  const [source, flags] =
    typeof name === 'string'
      ? [`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, '']
      : [name.source, name.flags];
  const handle = await page.waitForFunction(
    (src, fl) =>
      [...document.querySelectorAll('button')].find(
        (b) => !b.disabled && new RegExp(src, fl).test(b.textContent?.trim() ?? ''),
      ),
    { timeout },
    source,
    flags,
  );
  return handle as ElementHandle<HTMLButtonElement>;
}

/** Opens the <details> whose summary reads `summary`. */
export async function openDetails(page: Page, summary: string): Promise<void> {
  const handle = await page.waitForFunction(
    (text) => [...document.querySelectorAll('summary')].find((s) => s.textContent?.trim() === text),
    {},
    summary,
  );
  await (handle as ElementHandle<HTMLElement>).click();
}

/** The input inside the <label> whose text starts with `label`. */
export async function inputByLabel(
  page: Page,
  label: string | RegExp,
): Promise<ElementHandle<HTMLInputElement>> {
  const [source, flags] =
    typeof label === 'string' ? [`^${label}`, ''] : [label.source, label.flags];
  const handle = await page.waitForFunction(
    (src, fl) =>
      [...document.querySelectorAll('label')]
        .find((l) => new RegExp(src, fl).test(l.textContent?.trim() ?? ''))
        ?.querySelector('input'),
    {},
    source,
    flags,
  );
  return handle as ElementHandle<HTMLInputElement>;
}

/** Replaces an input's value by typing, as a user would. */
export async function fill(input: ElementHandle<HTMLInputElement>, value: string): Promise<void> {
  await input.click({ count: 3 });
  await input.evaluate((el) => {
    el.value = '';
  });
  await input.type(value);
}

/**
 * What went wrong in a tab: its errors and CSP violations, none tolerated. (zod 4's eval probe, which
 * the CSP blocked and Firefox logged as an error, is switched off by web/src/zod-jitless.ts.)
 */
export async function problems(tab: FirefoxTab): Promise<string[]> {
  return [
    ...tab.errors,
    ...tab.cspViolations.map(
      (v) => `CSP ${v.directive} blocked ${v.blocked} at ${v.file}:${v.line}:${v.column}`,
    ),
  ];
}

/** A full-page screenshot of a Firefox page at `path` (its folder created). */
export async function shoot(page: Page, path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path: path as `${string}.png`, fullPage: true });
}

const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

/**
 * Serious and critical axe-core violations of the WCAG 2.1 A/AA rules in a Firefox page or frame
 * as it is now (e2e/researcher.spec.ts's standard, there through @axe-core/playwright). axe is
 * evaluated through WebDriver BiDi, which the page's CSP does not govern.
 */
export async function axeViolations(target: Page | Frame, what: string): Promise<string[]> {
  if (!(await target.evaluate(() => 'axe' in window))) await target.evaluate(AXE_SOURCE);
  const violations = await target.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run(
            context: Document,
            options: object,
          ): Promise<{
            violations: { id: string; impact?: string; nodes: { target: unknown[] }[] }[];
          }>;
        };
      }
    ).axe;
    const result = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? '',
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${what}: ${v.id} (${v.impact}) ${v.targets.join(' | ')}`);
}
