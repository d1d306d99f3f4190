// D1 sharded by campaign, in real browsers: an edge of its own with two D1 shards (`npm start --
// --shards 2`), a researcher's campaigns spread over both, and two browsers verifying the one in
// shard 1 — its results, ledger chain and credit in shard 1, the global pages merging both shards.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { verifyChain, type LedgerPage } from '../shared/ledger.ts';
import type { Campaign, ExperimentDetail, LeaderboardRow } from '../shared/protocol.ts';
import { startEdge, stopEdge } from './own-edge.ts';

const PORT = 8898;
const PERSIST = '.wrangler/e2e-shards';
const URL = `http://localhost:${PORT}`;

const get = async <T>(path: string): Promise<T> => {
  const res = await fetch(URL + path);
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
};

/** A researcher's token, made by the operator command (the edge stores only its hash). */
function researcherToken(): string {
  const out = execFileSync(
    process.execPath,
    ['scripts/researcher.ts', 'add', 'Shards', '--persist', PERSIST],
    { encoding: 'utf8' },
  );
  return out.trim().split('\n').at(-1)!.trim();
}

async function createCampaign(token: string, name: string): Promise<Campaign> {
  const res = await fetch(`${URL}/api/campaigns`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      name,
      brief: 'One tiny experiment, wherever its shard is.',
      template: 'gpt-char',
      datasetId: 'sotu',
      searchSpace: {
        lr: { kind: 'fixed', value: 1e-3 },
        nEmbd: { kind: 'fixed', value: 32 },
        nLayer: { kind: 'fixed', value: 1 },
      },
      experiments: 1,
      steps: 30,
      replicas: 2,
      seed: 3,
    }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { campaign: Campaign }).campaign;
}

async function volunteer(page: Page, campaign: string): Promise<void> {
  await page.goto(`${URL}/?backend=wasm&campaign=${campaign}`);
  await page.getByRole('button', { name: /Start/ }).click();
  await expect(page.getByTestId('backend')).toHaveText('wasm', { timeout: 60_000 });
}

test('two browsers verify a campaign of D1 shard 1; the global pages show both shards', async ({
  browser,
}) => {
  rmSync(PERSIST, { recursive: true, force: true });
  const edge = await startEdge(PORT, PERSIST, ['--shards', '2']);
  try {
    const token = researcherToken();
    // New campaigns go to either shard at random: create until one is in shard 1 (p = 2^-12 of none).
    const made: Campaign[] = [];
    while (!made.some((c) => c.id.startsWith('c1_')) && made.length < 12)
      made.push(await createCampaign(token, `Shard test ${made.length}`));
    const one = made.find((c) => c.id.startsWith('c1_'))!;
    expect(one).toBeDefined();

    const pages = await Promise.all([0, 1].map(async () => (await browser.newContext()).newPage()));
    for (const p of pages) await volunteer(p, one.id);
    const verified = async () =>
      (await get<{ rows: LeaderboardRow[] }>(`/api/campaigns/${one.id}/leaderboard`)).rows.filter(
        (r) => r.verified,
      ).length;
    await expect.poll(verified, { timeout: 3 * 60_000 }).toBe(1);

    // Its results carry shard 1's tag; its ledger entries are shard 1's chain, shard 0's is empty.
    const { experiment } = await get<{ experiment: ExperimentDetail }>(
      `/api/experiments/${one.id}-0`,
    );
    expect(experiment.status).toBe('verified');
    expect(experiment.replicas.map((r) => r.resultId.slice(0, 3))).toEqual(['r1_', 'r1_']);
    const chain = await get<LedgerPage>('/api/ledger?shard=1&limit=500');
    expect(chain.entries.length).toBeGreaterThan(0);
    expect((await verifyChain(chain.entries)).ok).toBe(true);
    expect((await get<LedgerPage>('/api/ledger?shard=0')).entries).toEqual([]);

    // The global views merge both shards: every campaign listed, the volunteers credited.
    const listed = (await get<{ campaigns: Campaign[] }>('/api/campaigns')).campaigns.map(
      (c) => c.id,
    );
    for (const c of made) expect(listed).toContain(c.id);
    const page = pages[0]!;
    await page.goto(`${URL}/leaderboards`);
    await expect(page.getByRole('link', { name: one.name })).toBeVisible();
    const { volunteers } = await get<{ volunteers: { credit: number }[] }>('/api/leaderboards');
    expect(volunteers.filter((v) => v.credit > 0)).toHaveLength(2);
    await expect(page.getByText(/GFLOP/).first()).toBeVisible();
    await page.screenshot({ path: 'test-results/shards-leaderboards.png', fullPage: true });
    for (const p of pages) await p.context().close();
  } finally {
    await stopEdge(edge, PORT);
  }
});
