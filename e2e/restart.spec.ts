// The local edge restarted mid-campaign: verified results survive (D1 persists on disk), the
// volunteer that was training carries on, and the result it finished while the edge was down is
// delivered from its outbox once the edge is back. This spec runs its own edge on its own port.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { d1 } from './d1.ts';
import { startEdge as startOwnEdge, stopEdge as stopOwnEdge } from './own-edge.ts';

const PORT = 8897;
const PERSIST = '.wrangler/e2e-restart';
const URL = `http://localhost:${PORT}`;

const startEdge = () => startOwnEdge(PORT, PERSIST, ['--campaign', 'tiny']);
const stopEdge = (edge: ChildProcess) => stopOwnEdge(edge, PORT);

async function volunteer(page: Page, campaign: string): Promise<void> {
  await page.goto(`${URL}/?backend=wasm&campaign=${campaign}`);
  await page.getByRole('button', { name: /Start/ }).click();
  await expect(page.getByTestId('backend')).toHaveText('wasm', { timeout: 60_000 });
}

const verified = async () =>
  (
    (await (await fetch(`${URL}/api/campaigns/e2e-tiny/leaderboard`)).json()) as {
      rows: { experimentId: string }[];
    }
  ).rows
    .map((r) => r.experimentId)
    .sort();

test('a restarted edge loses no verified result, and running volunteers carry on', async ({
  browser,
}) => {
  rmSync(PERSIST, { recursive: true, force: true });
  let edge = await startEdge();
  try {
    const pages = await Promise.all(
      [0, 1, 2].map(async () => (await browser.newContext()).newPage()),
    );
    const [v1, v2, v3] = pages as [Page, Page, Page];
    await volunteer(v1, 'e2e-tiny');
    await volunteer(v2, 'e2e-tiny');
    await expect.poll(verified, { timeout: 3 * 60_000 }).toEqual(['e2e-tiny-0', 'e2e-tiny-1']);
    await volunteer(v3, 'e2e-faults');
    await expect
      .poll(
        async () => Number((await v3.getByTestId('step').textContent())?.split(' / ')[0]) || 0,
        { timeout: 60_000 },
      )
      .toBeGreaterThan(50);

    await stopEdge(edge);
    // Training goes on without the edge; the finished result waits in the outbox.
    await expect(v3.getByTestId('pending')).toHaveText('1', { timeout: 3 * 60_000 });
    const id = (await v3.getByTestId('volunteer-id').textContent())!;

    edge = await startEdge();
    expect(await verified()).toEqual(['e2e-tiny-0', 'e2e-tiny-1']);
    await expect(v3.getByTestId('pending')).toHaveCount(0, { timeout: 60_000 });
    const mine = d1<{ n: number }>(
      `SELECT count(*) AS n FROM results WHERE volunteer_id = '${id}'`,
      PERSIST,
    );
    expect(mine[0]!.n).toBe(1);
    // …and it carries on with the next experiment.
    await expect(v3.getByTestId('experiment')).not.toHaveText('—', { timeout: 60_000 });
    await expect
      .poll(
        async () => Number((await v3.getByTestId('step').textContent())?.split(' / ')[0]) || 0,
        { timeout: 60_000 },
      )
      .toBeGreaterThan(0);
    for (const p of pages) await p.context().close();
  } finally {
    await stopEdge(edge);
  }
});
