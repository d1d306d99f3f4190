// A volunteer in the browser tests: the page opened on a campaign with a forced backend and Start
// pressed, and a second, separate Chromium (its own profile, so its own key in its own IndexedDB).
import { chromium, expect, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config.ts';

export async function startVolunteer(
  page: Page,
  backend: 'webgpu' | 'wasm',
  campaign: string,
): Promise<void> {
  await page.goto(`/?backend=${backend}&campaign=${campaign}`);
  await page.getByRole('button', { name: /Start/ }).click();
  await expect(page.getByTestId('backend')).toHaveText(backend, { timeout: 60_000 });
}

export async function secondChromium(
  baseURL: string | undefined,
): Promise<{ page: Page; close: () => Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  const page = await (await browser.newContext({ baseURL })).newPage();
  return { page, close: () => browser.close() };
}

/**
 * Two volunteers on a campaign: this page on software WebGPU and a second Chromium on WASM, both
 * started; page errors of either are collected in `errors`.
 */
export async function webgpuAndWasm(
  page: Page,
  baseURL: string | undefined,
  campaign: string,
): Promise<{ pages: [Page, Page]; errors: string[]; close: () => Promise<void> }> {
  const errors: string[] = [];
  const other = await secondChromium(baseURL);
  for (const p of [page, other.page]) p.on('pageerror', (e) => errors.push(e.message));
  await startVolunteer(page, 'webgpu', campaign);
  await startVolunteer(other.page, 'wasm', campaign);
  return { pages: [page, other.page], errors, close: other.close };
}
