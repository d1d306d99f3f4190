// The pages a volunteer and a partner's visitor see, in Firefox ESR (e2e/firefox.ts): the
// volunteer page, a campaign page and the partner widget embedded on another origin render, in
// light and dark, on a desktop and a phone, with no serious or critical axe violations (WCAG 2.1
// A/AA, as e2e/researcher.spec.ts checks Chromium); and the widget trains after a click inside the
// frame, credited to the partner. Screenshots: test-results/firefox/pages/.
import { execFileSync } from 'node:child_process';
import { expect, test } from '@playwright/test';
import type { Frame } from 'puppeteer-core';
import { startPartnerSite, type PartnerSite } from '../scripts/lib/partner-site.ts';
import { E2E_PERSIST } from './d1.ts';
import {
  axeViolations,
  clickButton,
  expectTestId,
  firefoxTab,
  launchFirefox,
  problems,
  shoot,
  type FirefoxPage,
  type FirefoxTab,
} from './firefox.ts';
import { seedTinyCampaign } from './seed.ts';

const SHOTS = 'test-results/firefox/pages';
const PARTNER = 'firefox-example';
const WIDGET_CAMPAIGN = 'e2e-firefox-widget';
const SIZES = [
  ['desktop', { width: 1280, height: 900 }],
  ['phone', { width: 390, height: 844 }],
] as const;

let edge: string;
let site: PartnerSite;

test.beforeAll(async () => {
  edge = test.info().project.use.baseURL!;
  await seedTinyCampaign(WIDGET_CAMPAIGN, 'Firefox widget check', [51]);
  site = await startPartnerSite({
    edge,
    partnerId: PARTNER,
    backend: 'wasm',
    campaignId: WIDGET_CAMPAIGN,
  });
  execFileSync(
    process.execPath,
    [
      'scripts/partner.ts',
      'add',
      PARTNER,
      'The Firefox Example',
      site.origin,
      '--persist',
      process.env.E2E_PERSIST ?? E2E_PERSIST,
    ],
    { stdio: 'inherit' },
  );
});

test.afterAll(async () => {
  await site?.close();
});

/** Screenshots at both sizes, then axe on `target` (the page, or the widget's frame). */
async function shootAndCheck(
  page: FirefoxPage,
  name: string,
  scheme: string,
  target: FirefoxPage | Frame = page,
): Promise<string[]> {
  const bad: string[] = [];
  for (const [device, size] of SIZES) {
    await page.setViewport(size);
    await new Promise((r) => setTimeout(r, 300)); // charts and the widget frame resize on the next frames
    await shoot(page, `${SHOTS}/${name}-${device}-${scheme}.png`);
    bad.push(...(await axeViolations(target, `${name} (${device}, ${scheme})`)));
  }
  return bad;
}

const widgetFrame = async (tab: FirefoxTab): Promise<Frame> => {
  await expect
    .poll(() => tab.page.frames().some((f) => f.url().includes('/embed')), {
      message: 'the widget frame',
    })
    .toBe(true);
  return tab.page.frames().find((f) => f.url().includes('/embed'))!;
};

for (const scheme of ['light', 'dark'] as const) {
  test(`Firefox (${scheme}): the volunteer page, a campaign page and the widget render and pass axe`, async () => {
    const firefox = await launchFirefox({ colorScheme: scheme });
    try {
      const tab = await firefoxTab(firefox.browser);
      const { page } = tab;
      const bad: string[] = [];

      await page.goto(`${edge}/?campaign=e2e-tiny`);
      await page.waitForFunction(() =>
        [...document.querySelectorAll('h2')].some((h) => h.textContent === 'End-to-end check'),
      );
      // Honest about what it can pace by: Firefox has neither the Battery API nor PressureObserver.
      await expectTestId(
        page,
        'senses',
        /does not say when the device runs on battery\s+and\s+does not report compute pressure/,
      );
      expect(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)).toBe(
        scheme === 'dark',
      );
      bad.push(...(await shootAndCheck(page, 'volunteer', scheme)));

      await page.goto(`${edge}/campaigns/e2e-tiny`);
      await page.waitForFunction(
        () => document.querySelector('h1')?.textContent === 'End-to-end check',
      );
      await expectTestId(page, 'live-status', /./);
      bad.push(...(await shootAndCheck(page, 'campaign', scheme)));

      await page.goto(site.origin);
      const frame = await widgetFrame(tab);
      await expectTestId(frame, 'partner-name', 'The Firefox Example');
      bad.push(...(await shootAndCheck(page, 'widget', scheme, frame)));

      expect(bad).toEqual([]);
      expect(await problems(tab)).toEqual([]);
    } finally {
      await firefox.close();
    }
  });
}

test('Firefox: the widget trains after a click inside the frame and is credited to the partner', async () => {
  const firefox = await launchFirefox();
  try {
    const tab = await firefoxTab(firefox.browser, { viewport: { width: 900, height: 900 } });
    await tab.page.goto(site.origin);
    const frame = await widgetFrame(tab);
    await expectTestId(frame, 'partner-name', 'The Firefox Example');
    // Nothing of TensorFlow.js before the click: the frame has no worker script yet.
    const tfjs = () =>
      frame.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((e) => /trainer\.worker-|\.wasm$/.test(e.name))
          .map((e) => e.name),
      );
    expect(await tfjs()).toEqual([]);
    await clickButton(frame, 'Start');
    await expectTestId(frame, 'backend', 'wasm', 60_000);
    await expectTestId(frame, 'step', /^\d+ \/ 30$/, 60_000);
    expect((await tfjs()).length).toBeGreaterThan(0);
    await expectTestId(frame, 'submitted', '1', 3 * 60_000);
    await shoot(tab.page, `${SHOTS}/widget-submitted.png`);

    const res = await fetch(`${edge}/api/partners/${PARTNER}`);
    const { partner } = (await res.json()) as { partner: { experiments: number } };
    expect(partner.experiments).toBe(1); // the result came through the partner's widget
    expect(await problems(tab)).toEqual([]);
  } finally {
    await firefox.close();
  }
});
