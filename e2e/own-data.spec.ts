// Issue 16 done-when, as a new researcher would do it: a text file becomes a dataset with
// `npm run dataset -- add` (the CLI, uploading by hash to the edge's R2), a campaign on it comes from
// a YAML brief with `npm run tabgrid -- campaign create`, two Chromium volunteers (two contexts, two
// keys) download it by hash and verify its experiments while `campaign watch` prints them as they
// arrive, the corpus loads as Parquet (read back with hyparquet), and `npm run reproduce` retrains
// one from the dataset fetched by hash. The volunteer page says what the dataset will download.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parquetReadObjects } from 'hyparquet';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { sha256 } from '../shared/crypto.ts';
import { datasetDownloadBytes, DatasetManifest, manifestHash } from '../shared/dataset.ts';
import { PART_BYTES } from '../shared/dataset-upload.ts';
import type { DatasetSummary } from '../shared/protocol.ts';
import { Rng } from '../shared/rng.ts';
import { E2E_PERSIST, E2E_PORT } from '../playwright.config.ts';
import { startVolunteer } from './volunteer.ts';

const run = promisify(execFile);
const URL = `http://localhost:${E2E_PORT}`;
const SHOTS = `test-results-${E2E_PORT}/own-data`;

/** No serious or critical axe violations (WCAG 2.1 A/AA) on the page with its dataset note. */
async function expectAccessible(page: Page): Promise<void> {
  const { violations } = await new AxeBuilder({ page })
    .include('[data-testid="dataset-note"]')
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  expect(
    violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id),
  ).toEqual([]);
}

/**
 * A new researcher's token (`npm run researcher -- add`) and the CLI run with it from the
 * environment, never the command line, and no config file of this machine's.
 */
async function researcherCli(name: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-own-data-'));
  const add = () =>
    run(process.execPath, ['scripts/researcher.ts', 'add', name, '--persist', E2E_PERSIST]);
  // wrangler's own D1 access beside the running edge's may find the file locked for a moment.
  const { stdout } = await add().catch((e: Error) =>
    /SQLITE_BUSY/.test(e.message) ? add() : Promise.reject(e),
  );
  const env = {
    ...process.env,
    TABGRID_URL: URL,
    TABGRID_TOKEN: stdout.trim().split('\n').at(-1)!.trim(),
    TABGRID_CONFIG: join(dir, 'none.json'),
  };
  const cli = (...args: string[]) =>
    run(process.execPath, ['scripts/tabgrid.ts', ...args], { env, maxBuffer: 1 << 24 });
  return { dir, env, cli };
}

/** A researcher's own text: seeded sentences (a small alphabet, so the char tokenizer fits). */
function labNotes(chars: number): string {
  const rng = Rng.derive(16, 'own-data-e2e');
  const words =
    'the sample was kept at four degrees and measured again after one hour while the control stayed dry'.split(
      ' ',
    );
  let text = '';
  while (text.length < chars) {
    const n = 6 + Math.floor(rng.next() * 10);
    const s = Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]!);
    text += `${s.join(' ')}.\n`;
  }
  return text[0]!.toUpperCase() + text.slice(1);
}

const BRIEF = `# A brief as a researcher writes it (YAML)
name: Learning rate on my lab notes
brief: Which learning rate trains a tiny character GPT best on our own lab notes?
template: gpt-char
datasetId: lab-notes
searchSpace:
  lr: { kind: choice, values: [0.001, 0.003] }
  nLayer: { kind: fixed, value: 1 }
  nEmbd: { kind: fixed, value: 32 }
  nHead: { kind: fixed, value: 2 }
  blockSize: { kind: fixed, value: 32 }
  batchSize: { kind: fixed, value: 4 }
experiments: 2
steps: 10
replicas: 2
seed: 7
`;

test('a researcher brings a text file: CLI dataset and campaign, two browsers verify, watch, Parquet, reproduce', async ({
  browser,
  page,
}) => {
  test.setTimeout(8 * 60_000);
  mkdirSync(SHOTS, { recursive: true });
  const { dir, cli, env } = await researcherCli('Own Data Lab');
  // — dataset add, from a text file.
  const text = labNotes(40_000);
  writeFileSync(join(dir, 'lab-notes.txt'), text);
  const ds = await cli(
    'dataset',
    'add',
    'lab-notes',
    join(dir, 'lab-notes.txt'),
    '--license',
    'CC-BY-4.0',
  );
  expect(ds.stdout).toMatch(/dataset lab-notes registered: manifest [0-9a-f]{64}/);
  const { datasets } = (await (await fetch(`${URL}/api/datasets`)).json()) as {
    datasets: DatasetSummary[];
  };
  const registered = datasets.find((d) => d.id === 'lab-notes')!;
  const manifest = DatasetManifest.parse(
    await (await fetch(`${URL}/api/datasets/lab-notes/manifest`)).json(),
  );
  // Provenance: where the text came from, its license, its hash and the tokenizer.
  expect(manifest).toMatchObject({
    source: 'lab-notes.txt',
    license: 'CC-BY-4.0',
    sourceSha256: await sha256(text),
    tokenizer: 'char',
  });

  // — campaign create from the YAML brief.
  writeFileSync(join(dir, 'brief.yaml'), BRIEF);
  const created = await cli('campaign', 'create', join(dir, 'brief.yaml'));
  const campaignId = /campaign (c_[A-Za-z0-9_-]+) created: 2 experiments on lab-notes/.exec(
    created.stdout,
  )?.[1];
  expect(campaignId, created.stdout).toBeTruthy();

  // — campaign watch, running while the volunteers work.
  const watch = spawn(
    process.execPath,
    ['scripts/tabgrid.ts', 'campaign', 'watch', campaignId!, '--interval', '1'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let watched = '';
  watch.stdout.on('data', (b: Buffer) => (watched += b.toString()));
  watch.stderr.on('data', (b: Buffer) => (watched += b.toString()));
  const watchExit = new Promise<number | null>((r) => watch.on('exit', r));

  // — The volunteer page names the dataset by hash and says what it will download.
  const errors: string[] = [];
  const files: string[] = [];
  const other = await (await browser.newContext()).newPage();
  for (const p of [page, other]) {
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('request', (r) => {
      const path = new globalThis.URL(r.url()).pathname;
      if (path.startsWith('/api/datasets/files/') || path.startsWith('/data/')) files.push(path);
    });
  }
  await page.goto(`/?campaign=${campaignId}`);
  const note = page.getByTestId('dataset-note');
  await expect(note.getByTestId('dataset-sha256')).toHaveAttribute(
    'title',
    registered.manifestSha256,
  );
  const kB = (datasetDownloadBytes(manifest) / 1000).toFixed(1);
  await expect(note.getByTestId('dataset-download')).toHaveText(
    `downloads ${kB} kB before the first step`,
  );
  await page.screenshot({ path: `${SHOTS}/volunteer-dataset-note.png`, fullPage: true });
  await expectAccessible(page);

  await startVolunteer(page, 'wasm', campaignId!);
  await startVolunteer(other, 'wasm', campaignId!);
  expect(
    await Promise.race([watchExit, new Promise((r) => setTimeout(() => r('timeout'), 4 * 60_000))]),
  ).toBe(0);
  expect(errors).toEqual([]);
  for (const p of [page, other]) await p.getByRole('button', { name: 'Stop' }).click();
  await other.context().close();
  // Both token files came by SHA-256 from the edge, nothing from static paths.
  expect(new Set(files)).toEqual(
    new Set([manifest.train.sha256, manifest.val.sha256].map((h) => `/api/datasets/files/${h}`)),
  );

  // `campaign watch` showed each experiment as it was verified, then said it was done.
  const ticks = watched.split('\n').filter((l) => l.startsWith('✓ '));
  expect(ticks, watched).toHaveLength(2);
  expect(watched).toMatch(/\[█{30}\] 100%\s+2\/2 verified/);
  expect(watched).toContain('done: every experiment is verified or disputed.');

  // — The campaign page names the dataset by its manifest hash too.
  await page.goto(`/campaigns/${campaignId}`);
  await expect(page.getByTestId('progress-verified')).toHaveText('2');
  await expect(page.getByTestId('dataset-sha256')).toHaveAttribute(
    'title',
    registered.manifestSha256,
  );
  await page.screenshot({ path: `${SHOTS}/campaign-dataset-note.png` });
  await expectAccessible(page);

  // — The corpus as Parquet, read back as pandas would: two verified rows on this dataset's hash.
  const out = join(dir, 'corpus.parquet');
  await cli('corpus', campaignId!, '--format', 'parquet', '--out', out);
  const bytes = readFileSync(out);
  const rows = await parquetReadObjects({
    file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  });
  expect(rows).toHaveLength(2);
  for (const r of rows) {
    expect(r).toMatchObject({
      campaign_id: campaignId,
      dataset_id: 'lab-notes',
      dataset_sha256: registered.manifestSha256,
      replicas: 2,
    });
    expect(ticks.some((t) => t.includes(r.experiment_id as string))).toBe(true);
  }

  // — npm run reproduce fetches the dataset by hash from the edge and agrees.
  const repro = await run(process.execPath, [
    'scripts/reproduce.ts',
    rows[0]!.experiment_id as string,
    '--url',
    URL,
  ]);
  expect(repro.stderr).toContain(
    `dataset lab-notes: manifest ${registered.manifestSha256.slice(0, 12)}`,
  );
  expect(JSON.parse(repro.stdout)).toMatchObject({ agrees: true });
});

test('the built-in corpus is an ordinary registered dataset: manifest from the edge, files by hash from R2', async ({
  page,
}) => {
  const { datasets } = (await (await fetch(`${URL}/api/datasets`)).json()) as {
    datasets: DatasetSummary[];
  };
  const sotu = datasets.find((d) => d.id === 'sotu')!;
  const res = await fetch(`${URL}/api/datasets/sotu/manifest`);
  expect(res.status).toBe(200);
  const manifest = DatasetManifest.parse(await res.json());
  expect(await manifestHash(manifest)).toBe(sotu.manifestSha256);
  const val = await fetch(`${URL}/api/datasets/files/${manifest.val.sha256}`);
  expect(val.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expect(await sha256(new Uint8Array(await val.arrayBuffer()))).toBe(manifest.val.sha256);
  // The page describes it like any other (and a volunteer loads it the same way: e2e/loop.spec.ts).
  await page.goto('/?campaign=e2e-tiny');
  await expect(page.getByTestId('dataset-sha256')).toHaveAttribute('title', sotu.manifestSha256);
});

test('a text over 5 MiB goes up through the CLI in parts, by hash, into the local R2', async () => {
  test.setTimeout(4 * 60_000);
  const { dir, cli } = await researcherCli('Big Text Lab');
  const text = labNotes(6_000_000); // byte tokens: a 5.4 MB train file, two parts
  writeFileSync(join(dir, 'big.txt'), text);
  const add = () => cli('dataset', 'add', 'big-notes', join(dir, 'big.txt'), '--tokenizer', 'byte');
  const first = await add();
  expect(first.stdout).toMatch(/dataset big-notes registered: manifest [0-9a-f]{64}/);
  expect(first.stderr).toMatch(/part 1\/2 sent\n.*part 2\/2 sent/);
  const manifest = DatasetManifest.parse(
    await (await fetch(`${URL}/api/datasets/big-notes/manifest`)).json(),
  );
  expect(manifest.train.tokens).toBeGreaterThan(PART_BYTES);
  const train = await fetch(`${URL}/api/datasets/files/${manifest.train.sha256}`);
  expect(await sha256(new Uint8Array(await train.arrayBuffer()))).toBe(manifest.train.sha256);
  // Again: nothing to send, nothing registered twice.
  const again = await add();
  expect(again.stdout).toContain('dataset big-notes was already registered');
  expect(again.stderr).not.toContain('sent');
});
