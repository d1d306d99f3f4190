// Nothing a volunteer computes is lost in Firefox either (e2e/faults.spec.ts and
// e2e/identity.spec.ts in Chromium): Firefox ESR over WebDriver BiDi (e2e/firefox.ts) against
// the same local edge. A reload mid-training resumes from the IndexedDB checkpoint and ends
// exactly where an uninterrupted run does; a result finished offline waits in the outbox and is
// delivered once after reconnecting; an identity exported from one Firefox profile is imported in
// another (and in Chromium) and contributes as the same volunteer.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Metrics } from '../shared/protocol.ts';
import { d1 } from './d1.ts';
import {
  clickButton,
  expectTestId,
  fill,
  firefoxTab,
  inputByLabel,
  launchFirefox,
  openDetails,
  problems,
  shoot,
  testIdText,
  type FirefoxTab,
  type LaunchedFirefox,
} from './firefox.ts';
import { seedTinyCampaign } from './seed.ts';

const FAULTS = 'e2e-firefox-faults';
const IDENTITY = 'e2e-firefox-identity';
const SHOTS = 'test-results/firefox';

let firefox: LaunchedFirefox;
let origin: string;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  origin = test.info().project.use.baseURL!;
  // Firefox's WASM trains these ~80 steps/s on this machine: 1,200 steps leave time to interrupt.
  await seedTinyCampaign(FAULTS, 'Firefox fault check', [31, 32, 33], 1200);
  await seedTinyCampaign(IDENTITY, 'Firefox identity check', [41, 42, 43, 44], 1200);
  firefox = await launchFirefox();
});

test.afterAll(async () => {
  await firefox?.close();
});

async function volunteer(campaign: string, query = ''): Promise<FirefoxTab> {
  const tab = await firefoxTab(firefox.browser);
  await tab.page.goto(`${origin}/?backend=wasm&campaign=${campaign}${query}`);
  return tab;
}

async function start(tab: FirefoxTab): Promise<void> {
  await clickButton(tab.page, /^Start/);
  await expectTestId(tab.page, 'backend', 'wasm', 60_000);
}

const stepOf = async (tab: FirefoxTab) =>
  Number(((await testIdText(tab.page, 'step')) ?? '0').split(' / ')[0]) || 0;

interface ResultRow {
  volunteer_id: string;
  metrics_json: string;
}
const resultsOf = (experimentId: string) =>
  d1<ResultRow>(
    `SELECT volunteer_id, metrics_json FROM results WHERE experiment_id = '${experimentId}' ORDER BY created_at`,
  );

test('Firefox: a reload mid-training resumes from the checkpoint and reaches the uninterrupted result', async () => {
  // A trains experiment 0 without interruption.
  const a = await volunteer(FAULTS);
  await start(a);
  await expectTestId(a.page, 'experiment', `${FAULTS}-0`);
  await expectTestId(a.page, 'submitted', '1', 3 * 60_000);
  await clickButton(a.page, 'Stop');

  // B gets the replica, checkpoints every second, and is reloaded halfway.
  const b = await volunteer(FAULTS, '&checkpointEvery=1000');
  await start(b);
  await expectTestId(b.page, 'experiment', `${FAULTS}-0`);
  await expect.poll(() => stepOf(b), { timeout: 2 * 60_000 }).toBeGreaterThan(400);
  await new Promise((r) => setTimeout(r, 1500)); // at least one checkpoint after step 400
  const before = await stepOf(b);
  expect(before).toBeLessThan(1100); // still mid-training
  await b.page.reload();
  await expectTestId(b.page, 'step', '—'); // nothing computes before the click
  await start(b);
  await expectTestId(b.page, 'phase', /resumed from step \d+/);
  const resumedAt = Number(
    (await testIdText(b.page, 'phase'))!.match(/resumed from step (\d+)/)![1],
  );
  console.log(`Firefox reload: at step ${before} of 1200, resumed from ${resumedAt}`);
  expect(resumedAt).toBeGreaterThan(300);
  // Training goes on (~80 steps/s) between reading `before` and the reload: a checkpoint may follow.
  expect(resumedAt).toBeLessThanOrEqual(before + 200);
  await expectTestId(b.page, 'submitted', '1', 3 * 60_000);
  await shoot(b.page, `${SHOTS}/faults-resumed-submitted.png`);
  await clickButton(b.page, 'Stop');

  const rows = resultsOf(`${FAULTS}-0`);
  expect(rows).toHaveLength(2);
  const [ma, mb] = rows.map((r) => JSON.parse(r.metrics_json) as Metrics);
  // Same spec, same engine and backend: the resumed run is bit-identical to the uninterrupted one.
  expect(mb!.valBpb).toBe(ma!.valBpb);
  expect(mb!.curve).toEqual(ma!.curve);
  expect(await problems(a)).toEqual([]);
  expect(await problems(b)).toEqual([]);
  await a.context.close();
  await b.context.close();
});

test('Firefox: a result finished offline waits in the outbox and is delivered exactly once', async () => {
  const c = await volunteer(FAULTS);
  await start(c);
  await expectTestId(c.page, 'experiment', new RegExp(`^${FAULTS}-\\d$`));
  const experiment = (await testIdText(c.page, 'experiment'))!;
  await expect.poll(() => stepOf(c), { timeout: 60_000 }).toBeGreaterThan(20);
  await c.page.setOfflineMode(true);
  expect(await c.page.evaluate(() => navigator.onLine)).toBe(false);
  // Training goes on offline; the signed result lands in the outbox and the page says so.
  await expectTestId(c.page, 'pending', '1', 3 * 60_000);
  await expectTestId(c.page, 'phase', /Offline/);
  await shoot(c.page, `${SHOTS}/faults-offline-pending.png`);
  const id = (await testIdText(c.page, 'volunteer-id'))!;
  const mine = () => resultsOf(experiment).filter((r) => r.volunteer_id === id).length;
  expect(mine()).toBe(0);
  await c.page.setOfflineMode(false); // the `online` event flushes the outbox
  await expect
    .poll(() => testIdText(c.page, 'pending'), { timeout: 30_000, message: 'outbox emptied' })
    .toBeNull();
  await expect.poll(mine, { timeout: 10_000 }).toBe(1);
  await clickButton(c.page, 'Stop');
  await new Promise((r) => setTimeout(r, 1000));
  expect(mine()).toBe(1); // exactly once
  expect(await problems(c)).toEqual([]);
  await c.context.close();
});

test('Firefox: export an identity, import it in another profile and in Chromium, contribute as the same volunteer', async ({
  browser,
}) => {
  // A exports without contributing first (export registers the identity): a volunteer holds at
  // most two open leases (edge/src/trust/policy.ts MAX_OPEN_LEASES), and B and Chromium take them.
  const a = await volunteer(IDENTITY);
  const before = new Set(readdirSync(firefox.downloads));
  await openDetails(a.page, 'Move your identity to another browser');
  await fill(await inputByLabel(a.page, /^Passphrase/), 'correct horse battery');
  await clickButton(a.page, 'Export identity');
  await expectTestId(a.page, 'transfer-message', /^Saved\./);
  const downloaded = () =>
    readdirSync(firefox.downloads).filter((f) => f.endsWith('.json') && !before.has(f));
  await expect.poll(downloaded, { timeout: 15_000, message: 'downloaded' }).toHaveLength(1);
  const name = downloaded()[0]!;
  const id = name.match(/^tabgrid-identity-(v_[0-9a-f]{32})\.json$/)?.[1];
  expect(id, name).toBeDefined();
  const file = join(firefox.downloads, name);
  await expect.poll(() => readFileSync(file, 'utf8').length).toBeGreaterThan(0);
  const text = readFileSync(file, 'utf8');
  expect(text).not.toContain('PRIVATE'); // encrypted, not a PEM
  expect(JSON.parse(text).volunteerId).toBe(id);
  const registered = await fetch(`${origin}/api/volunteers/${id}`);
  expect(registered.status, 'export registers the identity').toBe(200);

  // Another Firefox profile imports it: a wrong passphrase is refused, the right one opens it.
  const b = await volunteer(IDENTITY);
  await openDetails(b.page, 'Move your identity to another browser');
  await (await inputByLabel(b.page, /^Identity file/)).uploadFile(file);
  await fill(await inputByLabel(b.page, /^Passphrase/), 'wrong passphrase!');
  await clickButton(b.page, 'Import identity');
  await expectTestId(b.page, 'transfer-message', /does not open/);
  await fill(await inputByLabel(b.page, /^Passphrase/), 'correct horse battery');
  await clickButton(b.page, 'Import identity');
  await expectTestId(b.page, 'transfer-message', new RegExp(id!));
  await clickButton(b.page, /^Start/);
  await expectTestId(b.page, 'volunteer-id', id!, 60_000);
  await expectTestId(b.page, 'step', /^\d+ \/ \d+$/, 60_000); // leased and training, signed by the linked key
  expect(await b.page.$$('[role="alert"]')).toHaveLength(0);
  await shoot(b.page, `${SHOTS}/identity-imported-training.png`);
  await clickButton(b.page, 'Stop');

  // Chromium opens Firefox's file too: the engines' WebCrypto agree on the format.
  const c = await (await browser.newContext()).newPage();
  await c.goto(`/?backend=wasm&campaign=${IDENTITY}`);
  await c.getByText('Move your identity to another browser').click();
  await c.getByLabel(/Identity file/).setInputFiles(file);
  await c.getByLabel(/Passphrase/).fill('correct horse battery');
  await c.getByRole('button', { name: 'Import identity' }).click();
  await expect(c.getByTestId('transfer-message')).toContainText(id!);
  await c.getByRole('button', { name: /Start/ }).click();
  await expect(c.getByTestId('volunteer-id')).toHaveText(id!, { timeout: 60_000 });
  await expect(c.getByTestId('step')).toHaveText(/^\d+ \/ \d+$/, { timeout: 60_000 });
  await expect(c.getByRole('alert')).toHaveCount(0);
  await c.getByRole('button', { name: 'Stop' }).click();

  expect(await problems(a)).toEqual([]);
  expect(await problems(b)).toEqual([]);
  await a.context.close();
  await b.context.close();
  await c.context().close();
});
