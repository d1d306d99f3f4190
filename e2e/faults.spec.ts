// Nothing a volunteer computes is lost, in real Chromium against the real local edge: a reload
// mid-training resumes from the IndexedDB checkpoint and ends exactly where an uninterrupted run
// does; a result finished offline waits in the outbox and is delivered once after reconnecting; a
// tab closed mid-experiment leaves a lease that, once expired, another volunteer completes.
import { expect, test, type Browser, type Page } from '@playwright/test';
import type { Metrics } from '../shared/protocol.ts';
import { d1 } from './d1.ts';

const CAMPAIGN = 'e2e-faults';

async function volunteer(browser: Browser, query = ''): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => {
    throw e;
  });
  await page.goto(`/?backend=wasm&campaign=${CAMPAIGN}${query}`);
  return page;
}

async function start(page: Page): Promise<void> {
  await page.getByRole('button', { name: /Start/ }).click();
  await expect(page.getByTestId('backend')).toHaveText('wasm', { timeout: 60_000 });
}

const stepOf = async (page: Page) =>
  Number(((await page.getByTestId('step').textContent()) ?? '0').split(' / ')[0]) || 0;

interface ResultRow {
  volunteer_id: string;
  lease_id: string;
  metrics_json: string;
}
const resultsOf = (experimentId: string) =>
  d1<ResultRow>(
    `SELECT volunteer_id, lease_id, metrics_json FROM results WHERE experiment_id = '${experimentId}' ORDER BY created_at`,
  );

test.describe.configure({ mode: 'serial' });

test('a reload mid-training resumes from the checkpoint and reaches the uninterrupted result', async ({
  browser,
}) => {
  // A trains experiment 0 without interruption.
  const a = await volunteer(browser);
  await start(a);
  await expect(a.getByTestId('experiment')).toHaveText(`${CAMPAIGN}-0`, { timeout: 30_000 });
  await expect(a.getByTestId('submitted')).toHaveText('1', { timeout: 3 * 60_000 });
  await a.getByRole('button', { name: 'Stop' }).click();

  // B gets the replica, checkpoints every second, and is reloaded halfway.
  const b = await volunteer(browser, '&checkpointEvery=1000');
  await start(b);
  await expect(b.getByTestId('experiment')).toHaveText(`${CAMPAIGN}-0`, { timeout: 30_000 });
  await expect.poll(() => stepOf(b), { timeout: 2 * 60_000 }).toBeGreaterThan(250);
  await b.waitForTimeout(1500); // at least one checkpoint after step 250
  const before = await stepOf(b);
  await b.reload();
  await expect(b.getByTestId('step')).toHaveText('—'); // nothing computes before the click
  await start(b);
  await expect(b.getByTestId('phase')).toContainText('resumed from step', { timeout: 30_000 });
  const resumedAt = Number(
    (await b.getByTestId('phase').textContent())!.match(/resumed from step (\d+)/)![1],
  );
  expect(resumedAt).toBeGreaterThan(200);
  expect(resumedAt).toBeLessThanOrEqual(before + 60);
  await expect(b.getByTestId('submitted')).toHaveText('1', { timeout: 3 * 60_000 });
  await b.getByRole('button', { name: 'Stop' }).click();

  const rows = resultsOf(`${CAMPAIGN}-0`);
  expect(rows).toHaveLength(2);
  const [ma, mb] = rows.map((r) => JSON.parse(r.metrics_json) as Metrics);
  // Same spec, same backend: the resumed run is bit-identical to the uninterrupted one.
  expect(mb!.valBpb).toBe(ma!.valBpb);
  expect(mb!.curve).toEqual(ma!.curve);
  await a.context().close();
  await b.context().close();
});

test('a result finished offline waits in the outbox and is delivered exactly once', async ({
  browser,
}) => {
  const c = await volunteer(browser);
  await start(c);
  await expect(c.getByTestId('experiment')).toHaveText(/e2e-faults-\d/, { timeout: 30_000 });
  const experiment = (await c.getByTestId('experiment').textContent())!;
  await expect.poll(() => stepOf(c), { timeout: 60_000 }).toBeGreaterThan(20);
  await c.context().setOffline(true);
  // Training goes on offline; the signed result lands in the outbox and the page says so.
  await expect(c.getByTestId('pending')).toHaveText('1', { timeout: 3 * 60_000 });
  await expect(c.getByTestId('phase')).toContainText('Offline');
  const mine = async () => {
    const id = (await c.getByTestId('volunteer-id').textContent())!;
    return resultsOf(experiment).filter((r) => r.volunteer_id === id).length;
  };
  expect(await mine()).toBe(0);
  await c.context().setOffline(false); // the `online` event flushes the outbox
  await expect(c.getByTestId('pending')).toHaveCount(0, { timeout: 30_000 });
  await expect.poll(mine, { timeout: 10_000 }).toBe(1);
  await c.getByRole('button', { name: 'Stop' }).click();
  await c.waitForTimeout(1000);
  expect(await mine()).toBe(1); // exactly once
  await c.context().close();
});

test('a tab closed mid-experiment: its lease expires and another volunteer completes the work', async ({
  browser,
}) => {
  const d = await volunteer(browser);
  await start(d);
  await expect(d.getByTestId('experiment')).toHaveText(/e2e-faults-\d/, { timeout: 30_000 });
  const experiment = (await d.getByTestId('experiment').textContent())!;
  await expect.poll(() => stepOf(d), { timeout: 60_000 }).toBeGreaterThan(20);
  const id = (await d.getByTestId('volunteer-id').textContent())!;
  await d.context().close(); // the tab is gone mid-training

  const open = d1<{ id: string }>(
    `SELECT id FROM leases WHERE volunteer_id = '${id}' AND experiment_id = '${experiment}' AND status = 'open'`,
  );
  expect(open).toHaveLength(1);
  // Fast-forward the clock for this lease only: its deadline passes (minutes, in real life).
  d1(`UPDATE leases SET deadline = ${Date.now() - 1000} WHERE id = '${open[0]!.id}'`);

  const others = [await volunteer(browser), await volunteer(browser)];
  for (const p of others) await start(p);
  await expect
    .poll(() => resultsOf(experiment).length, {
      timeout: 4 * 60_000,
      message: `${experiment} completed by others`,
    })
    .toBeGreaterThanOrEqual(2);
  expect(resultsOf(experiment).every((r) => r.volunteer_id !== id)).toBe(true);
  for (const p of others) await p.context().close();
});
