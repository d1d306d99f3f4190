// The loop across browser engines: volunteers on Chromium (Playwright), Firefox ESR (puppeteer-core
// over WebDriver BiDi: e2e/firefox.ts) and WebKit (WebKitGTK's MiniBrowser over WebDriver on
// Xvfb: e2e/webkit.ts) press Start on the same tiny experiment, each in its own profile with its
// own key, and verify each other: the experiment is verified on the leaderboard and the two
// results agree within shared/verify.ts's tolerances. Chromium meets Firefox, Firefox meets WebKit.
import { expect, test, type Browser as PlaywrightBrowser } from '@playwright/test';
import type { LeaderboardRow, Metrics } from '../shared/protocol.ts';
import { TAU_BPB, TAU_CURVE } from '../shared/verify.ts';
import { d1 } from './d1.ts';
import {
  clickButton,
  expectTestId,
  firefoxTab,
  launchFirefox,
  problems,
  shoot,
  testIdText,
  type CspViolation,
} from './firefox.ts';
import { seedTinyCampaign } from './seed.ts';
import { launchWebKit } from './webkit.ts';

const SHOTS = 'test-results/engines';

/** One volunteer's browser, whatever drives it. */
interface Volunteer {
  engine: 'chromium' | 'firefox' | 'webkit';
  /** Opens the volunteer page on `campaign` (WASM), presses Start and waits for the backend. */
  start(campaign: string, name: string): Promise<void>;
  text(testId: string): Promise<string | null>;
  screenshot(path: string): Promise<void>;
  /** What went wrong in the page (uncaught errors, CSP violations): must be empty. */
  problems(): Promise<string[]>;
  close(): Promise<void>;
}

const waitText = async (v: Volunteer, testId: string, expected: RegExp, timeout: number) => {
  await expect
    .poll(() => v.text(testId), { timeout, message: `${v.engine}: [data-testid=${testId}]` })
    .toMatch(expected);
};

async function chromium(browser: PlaywrightBrowser, baseURL: string): Promise<Volunteer> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return {
    engine: 'chromium',
    async start(campaign, name) {
      await page.goto(`/?backend=wasm&campaign=${campaign}`);
      await expect(page.getByRole('heading', { name })).toBeVisible();
      await page.getByRole('button', { name: /Start/ }).click();
      await expect(page.getByTestId('backend')).toHaveText('wasm', { timeout: 60_000 });
    },
    text: (testId) =>
      page
        .getByTestId(testId)
        .textContent({ timeout: 1000 })
        .catch(() => null),
    screenshot: async (path) => void (await page.screenshot({ path, fullPage: true })),
    problems: async () => errors,
    close: () => context.close(),
  };
}

async function firefox(baseURL: string): Promise<Volunteer> {
  const launched = await launchFirefox();
  const tab = await firefoxTab(launched.browser);
  return {
    engine: 'firefox',
    async start(campaign, name) {
      await tab.page.goto(`${baseURL}/?backend=wasm&campaign=${campaign}`);
      await tab.page.waitForFunction(
        (n) => [...document.querySelectorAll('h2')].some((h) => h.textContent === n),
        {},
        name,
      );
      await clickButton(tab.page, /^Start/);
      await expectTestId(tab.page, 'backend', 'wasm', 60_000);
    },
    text: (testId) => testIdText(tab.page, testId),
    screenshot: (path) => shoot(tab.page, path),
    problems: () => problems(tab),
    close: () => launched.close(),
  };
}

async function webkit(baseURL: string): Promise<Volunteer> {
  const wk = await launchWebKit();
  const text = (testId: string) =>
    wk.execute<string | null>(
      'const e = document.querySelector(`[data-testid="${arguments[0]}"]`); return e ? e.textContent.trim() : null;',
      testId,
    );
  const volunteer: Volunteer = {
    engine: 'webkit',
    async start(campaign, name) {
      await wk.goto(`${baseURL}/?backend=wasm&campaign=${campaign}`);
      // WebDriver classic has no preload scripts: errors from here on, and CSP reports.
      await wk.execute(`
        window.__problems = [];
        addEventListener('error', (e) => __problems.push('error: ' + e.message + ' at ' + e.filename + ':' + e.lineno));
        addEventListener('unhandledrejection', (e) => __problems.push('rejection: ' + e.reason));
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => __csp.push({ directive: e.effectiveDirective, blocked: e.blockedURI, file: e.sourceFile, line: e.lineNumber, column: e.columnNumber }));`);
      await expect
        .poll(() =>
          wk.execute<string[]>(
            'return [...document.querySelectorAll("h2")].map((h) => h.textContent)',
          ),
        )
        .toContain(name);
      await wk.click('button', /^Start/);
      const t = Date.now();
      try {
        await waitText(volunteer, 'backend', /^wasm$/, 60_000);
      } catch (err) {
        // What the page was doing when it did not get to its backend (phase, error, problems).
        const phase = await text('phase').catch(() => null);
        const problems = await volunteer.problems().catch((e: Error) => [e.message]);
        await wk.screenshot(`${SHOTS}/webkit-start-stalled.png`).catch(() => undefined);
        throw new Error(
          `WebKit did not reach its backend: phase ${JSON.stringify(phase)}, problems ${JSON.stringify(problems)}`,
          { cause: err },
        );
      }
      console.log(`e2e engines: WebKit reached its backend ${Date.now() - t} ms after Start`);
    },
    text,
    screenshot: (path) => wk.screenshot(path),
    async problems() {
      const errors = await wk.execute<string[]>('return window.__problems || ["no listener"]');
      const csp = await wk.execute<CspViolation[]>('return window.__csp || []');
      return [
        ...errors,
        ...csp.map(
          (v) => `CSP ${v.directive} blocked ${v.blocked} at ${v.file}:${v.line}:${v.column}`,
        ),
      ];
    },
    close: () => wk.close(),
  };
  return volunteer;
}

/** `a` starts first and leases the one experiment; `b` then gets its replica; both must agree. */
async function meet(campaign: string, name: string, a: Volunteer, b: Volunteer, baseURL: string) {
  const t0 = Date.now();
  await a.start(campaign, name);
  await b.start(campaign, name);
  await waitText(b, 'step', /^\d+ \/ 30$/, 60_000);
  for (const v of [a, b]) await waitText(v, 'submitted', /^1$/, 3 * 60_000);
  for (const v of [a, b]) await v.screenshot(`${SHOTS}/${campaign}-${v.engine}.png`);
  const ids = await Promise.all([a, b].map((v) => v.text('volunteer-id')));
  for (const id of ids) expect(id).toMatch(/^v_[0-9a-f]{32}$/);
  expect(ids[0]).not.toBe(ids[1]);

  const experiment = `${campaign}-0`;
  await expect
    .poll(
      async () => {
        const res = await fetch(`${baseURL}/api/campaigns/${campaign}/leaderboard`);
        return ((await res.json()) as { rows: LeaderboardRow[] }).rows.find(
          (r) => r.experimentId === experiment,
        );
      },
      { timeout: 30_000, message: `${experiment} verified` },
    )
    .toMatchObject({ verified: true, backends: ['wasm'] });
  const rows = d1<{ volunteer_id: string; verdict: string; metrics_json: string }>(
    `SELECT volunteer_id, verdict, metrics_json FROM results WHERE experiment_id = '${experiment}'`,
  );
  expect(rows.map((r) => r.volunteer_id).sort()).toEqual([...ids].sort());
  expect(rows.map((r) => r.verdict)).toEqual(['valid', 'valid']);
  const [ma, mb] = rows.map((r) => JSON.parse(r.metrics_json) as Metrics);
  expect(ma!.curve).toHaveLength(mb!.curve.length);
  const dBpb = Math.abs(ma!.valBpb - mb!.valBpb);
  const dCurve = Math.max(...ma!.curve.map((x, i) => Math.abs(x - mb!.curve[i]!)));
  expect(dBpb).toBeLessThanOrEqual(TAU_BPB);
  expect(dCurve).toBeLessThanOrEqual(TAU_CURVE);
  for (const v of [a, b]) expect(await v.problems(), v.engine).toEqual([]);
  console.log(
    `e2e engines: ${a.engine} + ${b.engine} verified ${experiment} on wasm in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
      `|Δ val_bpb| ${dBpb.toExponential(2)}, max |Δ curve| ${dCurve.toExponential(2)}`,
  );
}

test.beforeAll(async () => {
  // One experiment each: both volunteers must meet on it.
  await seedTinyCampaign('e2e-engines', 'Cross-engine check', [4]);
  await seedTinyCampaign('e2e-engines-webkit', 'WebKit check', [5]);
});

test('a Chromium and a Firefox volunteer verify an experiment together', async ({
  browser,
  baseURL,
}) => {
  const volunteers: Volunteer[] = [];
  try {
    volunteers.push(await chromium(browser, baseURL!), await firefox(baseURL!));
    await meet('e2e-engines', 'Cross-engine check', volunteers[0]!, volunteers[1]!, baseURL!);
  } finally {
    for (const v of volunteers) await v.close();
  }
});

test('a WebKit and a Firefox volunteer verify an experiment together', async ({ baseURL }) => {
  const volunteers: Volunteer[] = [];
  try {
    volunteers.push(await webkit(baseURL!), await firefox(baseURL!));
    await meet('e2e-engines-webkit', 'WebKit check', volunteers[0]!, volunteers[1]!, baseURL!);
  } finally {
    for (const v of volunteers) await v.close();
  }
});
