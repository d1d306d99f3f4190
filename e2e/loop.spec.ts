// The whole loop in real Chromium: two volunteers, one on WebGPU (SwiftShader) and one on WASM,
// press Start, train the same tiny experiment, and the leaderboard shows it verified across backends.
import { chromium, expect, test, type Page } from '@playwright/test';
import type { LeaderboardRow } from '../shared/protocol.ts';
import { CHROMIUM_ARGS } from '../playwright.config.ts';

const CAMPAIGN = 'e2e-tiny';

async function volunteer(page: Page, backend: 'webgpu' | 'wasm'): Promise<void> {
  await page.goto(`/?backend=${backend}&campaign=${CAMPAIGN}`);
  await expect(page.getByRole('heading', { name: 'End-to-end check' })).toBeVisible();
  await page.getByRole('button', { name: /Start/ }).click();
  await expect(page.getByTestId('backend')).toHaveText(backend, { timeout: 60_000 });
}

test('two browsers on two backends verify an experiment together', async ({ page, baseURL }) => {
  const t0 = Date.now();
  // A second, separate browser: its own profile, so its own key in its own IndexedDB.
  const other = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  const wasmPage = await (await other.newContext({ baseURL })).newPage();
  const errors: string[] = [];
  for (const p of [page, wasmPage]) p.on('pageerror', (e) => errors.push(e.message));

  await volunteer(page, 'webgpu');
  await volunteer(wasmPage, 'wasm');
  // The page says what this browser lets it pace by (Chromium: the Battery API).
  await expect(page.getByTestId('senses')).toContainText('tells when the device runs on battery');
  await expect(wasmPage.getByTestId('step')).toHaveText(/^\d+ \/ 30$/, { timeout: 60_000 });
  await page.screenshot({ path: 'test-results/volunteer-webgpu-training.png', fullPage: true });

  for (const p of [page, wasmPage]) {
    await expect(p.getByTestId('submitted')).not.toHaveText('0', { timeout: 4 * 60_000 });
  }
  await wasmPage.screenshot({ path: 'test-results/volunteer-wasm-submitted.png', fullPage: true });

  const res = await page.request.get(`/api/campaigns/${CAMPAIGN}/leaderboard`);
  const { rows } = (await res.json()) as { rows: LeaderboardRow[] };
  const first = rows.find((r) => r.experimentId === `${CAMPAIGN}-0`);
  expect(first, 'experiment 0 verified').toBeDefined();
  expect(first!.verified).toBe(true);
  expect([...first!.backends].sort()).toEqual(['wasm', 'webgpu']);
  expect(first!.volunteers).toHaveLength(2);
  expect(first!.valBpb).toBeGreaterThan(0.5);
  expect(first!.valBpb).toBeLessThan(8);

  await page.goto(`/campaigns/${CAMPAIGN}`);
  const row = page.getByTestId('leaderboard-row').filter({ hasText: `${CAMPAIGN}-0` });
  await expect(row).toBeVisible();
  await expect(row.getByTestId('backends')).toHaveText(/webgpu/);
  await expect(row.getByTestId('backends')).toHaveText(/wasm/);
  await page.screenshot({ path: 'test-results/leaderboard.png', fullPage: true });

  expect(errors).toEqual([]);
  console.log(
    `e2e loop: verified across webgpu + wasm in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  await other.close();
});
