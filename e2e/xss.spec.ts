// Pages stay inert and locked down: every page carries a Content-Security-Policy without inline
// script, and campaign names, briefs, researcher, display and partner names that carry HTML or
// script render as text on every page that shows them. The volunteer's key cannot be read out.
import { execFileSync } from 'node:child_process';
import { expect, test, type Page } from '@playwright/test';
import type { Campaign, LeaderboardRow } from '../shared/protocol.ts';
import { E2E_PERSIST } from './d1.ts';

const mark = (n: number) => `window.__xss=${n}`;
const NAME = `<img src=x onerror="${mark(1)}">Sweep`;
const BRIEF = `<script>${mark(2)}</script><b>bold?</b>`;
const DISPLAY = `<svg onload="${mark(3)}">`;
const PARTNER_NAME = `<iframe srcdoc="<script>parent.${mark(4)}</script>">`;
const RESEARCHER = `<a href="javascript:${mark(5)}">Lab</a>`;

let campaign: Campaign;

function cli(script: string, ...args: string[]): string {
  return execFileSync(process.execPath, [script, ...args, '--persist', E2E_PERSIST], {
    encoding: 'utf8',
  });
}

async function expectInert(page: Page, path: string): Promise<void> {
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const res = await page.goto(path);
  const csp = res!.headers()['content-security-policy'] ?? '';
  expect(csp, `CSP on ${path}`).toContain("default-src 'self'");
  expect(csp, `no inline script on ${path}`).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(500);
  expect(
    await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
    `payload ran on ${path}`,
  ).toBeUndefined();
  expect(dialogs).toEqual([]);
}

test.beforeAll(async ({ request }) => {
  const out = cli('scripts/researcher.ts', 'add', RESEARCHER);
  const token = out.trim().split('\n').at(-1)!;
  const res = await request.post('/api/campaigns', {
    headers: { authorization: `Bearer ${token}` },
    data: {
      name: NAME,
      brief: BRIEF,
      template: 'gpt-char',
      datasetId: 'sotu',
      searchSpace: {
        lr: { kind: 'log-uniform', min: 1e-3, max: 3e-3 },
        nEmbd: { kind: 'choice', values: [32] },
        nLayer: { kind: 'choice', values: [1] },
      },
      experiments: 1,
      steps: 30,
      replicas: 2,
      seed: 5,
    },
  });
  expect(res.status(), await res.text()).toBe(201);
  campaign = ((await res.json()) as { campaign: Campaign }).campaign;
  cli('scripts/partner.ts', 'add', 'xss-partner', PARTNER_NAME, 'http://localhost:9');
});

test('hostile names render as text on every page, under a CSP', async ({ browser, page }) => {
  // Two volunteers with a hostile display name verify the campaign's experiment.
  const volunteers = await Promise.all(
    [0, 1].map(async () => (await browser.newContext()).newPage()),
  );
  for (const v of volunteers) {
    await v.goto(`/?backend=wasm&campaign=${campaign.id}`);
    await v.getByLabel(/Display name/).fill(DISPLAY);
    await v.getByRole('button', { name: /Start/ }).click();
  }
  await expect
    .poll(
      async () =>
        (
          (await (await page.request.get(`/api/campaigns/${campaign.id}/leaderboard`)).json()) as {
            rows: LeaderboardRow[];
          }
        ).rows.length,
      {
        timeout: 3 * 60_000,
      },
    )
    .toBe(1);
  for (const v of volunteers) await expectInert(v, `/?campaign=${campaign.id}`);

  const { rows } = (await (
    await page.request.get(`/api/campaigns/${campaign.id}/leaderboard`)
  ).json()) as { rows: LeaderboardRow[] };
  for (const path of [
    '/',
    `/campaigns/${campaign.id}`,
    `/experiments/${rows[0]!.experimentId}`,
    '/leaderboards',
    '/campaigns/new',
    '/embed?partner=xss-partner',
  ]) {
    await expectInert(page, path);
  }
  await page.goto(`/campaigns/${campaign.id}`);
  await expect(page.getByText(NAME).first()).toBeVisible(); // shown as the literal text
  await expect(page.getByText(BRIEF).first()).toBeVisible();
  await page.goto('/embed?partner=xss-partner');
  await expect(page.getByText(PARTNER_NAME).first()).toBeVisible();
  await page.goto('/leaderboards');
  await expect(page.getByText(DISPLAY).first()).toBeVisible({ timeout: 10_000 });
  for (const v of volunteers) await v.context().close();
});

test('the signing key cannot be read out of IndexedDB', async ({ page }) => {
  await page.goto('/?backend=wasm&campaign=e2e-tiny');
  await page.getByRole('button', { name: /Start/ }).click();
  await expect(page.getByTestId('volunteer-id')).toHaveText(/^v_/, { timeout: 60_000 });
  await page.getByRole('button', { name: 'Stop' }).click();
  const outcome = await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('tabgrid');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const identity = await new Promise<{ keys: CryptoKeyPair }>((resolve) => {
      const r = db.transaction('identity').objectStore('identity').get('self');
      r.onsuccess = () => resolve(r.result);
    });
    const key = identity.keys.privateKey;
    const exported = await crypto.subtle.exportKey('pkcs8', key).then(
      () => 'exported',
      (e: Error) => e.name,
    );
    return { extractable: key.extractable, exported };
  });
  expect(outcome).toEqual({ extractable: false, exported: 'InvalidAccessError' });
});
