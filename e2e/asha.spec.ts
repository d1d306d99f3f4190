// ASHA in real Chromium (docs/strategies.md): two volunteers (software WebGPU and WASM) work through
// a campaign of six tiny configurations searched with η = 3. Every experiment is verified by both;
// as results are verified the edge promotes the best third of the first rung, each promotion a
// child continuing from its configuration's own checkpoint; then `npm run replay` confirms every
// decision from what the edge publishes.
import { execFileSync } from 'node:child_process';
import { expect, test } from '@playwright/test';
import type { LineageNode } from '../shared/protocol.ts';
import { webgpuAndWasm } from './volunteer.ts';

const CAMPAIGN = 'e2e-asha';

test('two browsers run an ASHA campaign to the end, and the replay confirms its decisions', async ({
  page,
  baseURL,
  request,
}) => {
  test.setTimeout(14 * 60_000);
  const fleet = await webgpuAndWasm(page, baseURL, CAMPAIGN);

  const nodes = async () =>
    (
      (await (await request.get(`/api/campaigns/${CAMPAIGN}/lineages`)).json()) as {
        nodes: LineageNode[];
      }
    ).nodes;
  // The end: every experiment the strategy made is verified and nothing is left open. Six at rung 0;
  // at least the best ⌊6/3⌋ = 2 promoted — more when results arrive best-last, since each new best
  // is in the top third of what is verified so far (asynchronous: no barrier). Here they arrive in
  // the queue's order, and higher learning rates do better over 10 steps: 4 were promoted.
  await expect
    .poll(
      async () => {
        const n = await nodes();
        return n.length >= 8 && n.every((x) => x.status === 'verified');
      },
      { timeout: 12 * 60_000, intervals: [5_000] },
    )
    .toBe(true);
  const all = await nodes();
  const promoted = all.filter((n) => n.depth === 1);
  expect(all.filter((n) => n.depth === 0)).toHaveLength(6);
  expect(promoted.length).toBeGreaterThanOrEqual(2);
  for (const child of promoted) {
    const parent = all.find((n) => n.id === child.parentId)!;
    expect([child.startStep, child.steps, parent.depth]).toEqual([10, 20, 0]);
    expect(parent.checkpointSha256).not.toBeNull(); // continued from its own verified checkpoint
  }

  const out = execFileSync(process.execPath, ['scripts/replay.ts', CAMPAIGN, '--url', baseURL!], {
    encoding: 'utf8',
  });
  const replay = JSON.parse(out.trim().split('\n').at(-1)!) as {
    decisions: number;
    confirmed: number;
    problems: string[];
  };
  expect(replay).toMatchObject({
    decisions: promoted.length,
    confirmed: promoted.length,
    problems: [],
  });

  for (const p of fleet.pages) await p.getByRole('button', { name: 'Stop' }).click();
  await page.goto(`/campaigns/${CAMPAIGN}`);
  await expect(page.getByTestId('lineage-tree').getByRole('link')).toHaveCount(all.length);
  // The strategy's card: both rungs, how many were promoted, the compute against random search's.
  await expect(page.getByTestId('rungs').locator('tbody tr')).toHaveText([
    new RegExp(`^0\\s*10\\s*6\\s*0\\s*${promoted.length}$`),
    new RegExp(`^1\\s*30\\s*${promoted.length}\\s*0\\s*—$`),
  ]);
  await expect(page.getByTestId('compute')).toContainText('random search would train');
  await page
    .getByRole('region', { name: /^ASHA: successive halving/ })
    .screenshot({ path: 'test-results/asha-strategy.png' });
  await page
    .getByRole('region', { name: 'Lineages' })
    .screenshot({ path: 'test-results/asha-campaign.png' });
  await fleet.close();
  expect(fleet.errors).toEqual([]);
});
