// A lineage in real Chromium (docs/lineage.md): one browser on software WebGPU and one on WASM
// train a 90-step run cut into three 30-step segments. Each segment is verified by the two, one
// replica's final checkpoint becomes canonical, and the next segment starts from those bytes —
// and the last segment's val_bpb is within TAU_BPB of the same run trained uninterrupted (here, in
// Node, on TensorFlow.js's CPU backend).
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { datasetUrl, decodeTokens, DatasetManifest } from '../shared/dataset.ts';
import type { ExperimentDetail } from '../shared/protocol.ts';
import { trainExperiment } from '../shared/train/loop.ts';
import { TAU_BPB } from '../shared/verify.ts';
import { webgpuAndWasm } from './volunteer.ts';

const CAMPAIGN = 'e2e-lineage';
const ROOT = `${CAMPAIGN}-0`;
const LAST = `${ROOT}-s2`;

test('two browsers train a three-segment lineage, each segment verified, the last as good as one uninterrupted run', async ({
  page,
  baseURL,
  request,
}) => {
  test.setTimeout(14 * 60_000);
  const fleet = await webgpuAndWasm(page, baseURL, CAMPAIGN);

  const detail = async (id: string) => {
    const res = await request.get(`/api/experiments/${id}`);
    return res.ok() ? ((await res.json()) as { experiment: ExperimentDetail }).experiment : null;
  };
  await expect
    .poll(async () => (await detail(LAST))?.status ?? 'absent', {
      timeout: 12 * 60_000,
      intervals: [5_000],
    })
    .toBe('verified');
  // Wait for the last segment's canonical checkpoint too (the uploads follow the results).
  await expect
    .poll(async () => (await detail(LAST))?.lineage.at(-1)?.checkpointSha256 ?? null, {
      timeout: 60_000,
    })
    .not.toBeNull();
  const last = (await detail(LAST))!;
  expect(last.lineage.map((n) => [n.id, n.parentId, n.status, n.startStep])).toEqual([
    [ROOT, null, 'verified', 0],
    [`${ROOT}-s1`, ROOT, 'verified', 30],
    [LAST, `${ROOT}-s1`, 'verified', 60],
  ]);
  // Each segment was verified by both engines' backends, and each continued from its parent's
  // canonical checkpoint (the hash its spec names).
  for (const node of last.lineage) {
    const d = (await detail(node.id))!;
    expect(new Set(d.replicas.map((r) => r.metrics?.backend))).toEqual(new Set(['webgpu', 'wasm']));
    const parent = last.lineage.find((n) => n.id === node.parentId);
    expect(d.spec.parent?.checkpointSha256).toBe(parent?.checkpointSha256);
  }

  // The same run uninterrupted: 90 steps, the schedule over the 90.
  const root = (await detail(ROOT))!;
  const { scheduleSteps: _, ...train } = root.spec.train;
  const whole = { ...root.spec, train: { ...train, steps: 90 } };
  const manifest = DatasetManifest.parse(
    await (await request.get(datasetUrl(whole.dataset.id, 'manifest.json'))).json(),
  );
  const file = async (name: string) =>
    decodeTokens(
      manifest,
      new Uint8Array(await (await request.get(datasetUrl(whole.dataset.id, name))).body()).buffer,
    );
  await tf.setBackend('cpu');
  const run = await trainExperiment(whole, {
    manifest,
    train: await file(manifest.train.file),
    val: await file(manifest.val.file),
  });
  if (run.stopped) throw new Error('the uninterrupted run stopped');
  expect(Math.abs(last.valBpb! - run.metrics.valBpb)).toBeLessThanOrEqual(TAU_BPB);
  console.log(
    `lineage ${last.valBpb} vs uninterrupted ${run.metrics.valBpb} (Δ ${Math.abs(last.valBpb! - run.metrics.valBpb)})`,
  );

  // `npm run reproduce` retrains the whole lineage here (CPU), each segment from the previous
  // one's state, and every segment agrees with its verified value.
  const reproduced = JSON.parse(
    execFileSync(process.execPath, ['scripts/reproduce.ts', LAST, '--url', baseURL!], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  ) as { agrees: boolean; lineage: { experimentId: string; agrees: boolean }[] };
  expect(reproduced.lineage.map((r) => [r.experimentId, r.agrees])).toEqual([
    [ROOT, true],
    [`${ROOT}-s1`, true],
    [LAST, true],
  ]);

  for (const p of fleet.pages) await p.getByRole('button', { name: 'Stop' }).click();
  // The lineage on the experiment page (ancestors, its loss curve across segments) and the
  // campaign page (the tree, the best path highlighted).
  await page.goto(`/experiments/${LAST}`);
  const section = page.getByTestId('lineage');
  await expect(section.getByRole('link')).toHaveText([`${ROOT}-s1`, ROOT, `${ROOT}-s1`]);
  await section.screenshot({ path: 'test-results/lineage-experiment.png' });
  await page.goto(`/campaigns/${CAMPAIGN}`);
  const tree = page.getByTestId('lineage-tree');
  await expect(tree.getByRole('link')).toHaveCount(3);
  await expect(tree).toHaveAttribute(
    'aria-label',
    new RegExp(`Best: ${ROOT} → ${ROOT}-s1 → ${LAST}`),
  );
  await page
    .getByRole('region', { name: 'Lineages' })
    .screenshot({ path: 'test-results/lineage-campaign.png' });
  await fleet.close();
  expect(fleet.errors).toEqual([]);
});
