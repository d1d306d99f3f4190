// The dataset manifest: vocabulary, token files with their SHA-256, and the pinned validation
// windows that every replica evaluates. Its canonical hash is the dataset's identity in a spec.
import { z } from 'zod';
import { hashCanonical, sha256 } from './crypto.ts';
import { Sha256Hex } from './spec.ts';

export const TokenFile = z.object({
  file: z.string(),
  tokens: z.number().int().positive(),
  sha256: Sha256Hex,
});

export const DatasetManifest = z.object({
  id: z.string().regex(/^[a-z0-9-]{1,40}$/),
  name: z.string(),
  source: z.string(),
  license: z.string(),
  sourceSha256: Sha256Hex,
  // How text became tokens: 'char' (absent in older manifests, so their hashes stay), one token per
  // distinct character; 'byte', one token per UTF-8 byte, a fixed vocabulary of 256.
  tokenizer: z.enum(['char', 'byte']).optional(),
  vocab: z.array(z.string()), // token id → character (byte: the ASCII character, or <0xNN>)
  tokenBytes: z.array(z.number().int().min(1).max(4)), // UTF-8 bytes of each token, for val_bpb
  dtype: z.enum(['uint8', 'uint16']),
  train: TokenFile,
  val: TokenFile,
  evalWindows: z.object({
    maxContext: z.number().int().positive(), // every start leaves room for maxContext + 1 tokens
    starts: z.array(z.number().int().nonnegative()),
  }),
});
export type DatasetManifest = z.infer<typeof DatasetManifest>;

export function manifestHash(manifest: DatasetManifest): Promise<string> {
  return hashCanonical(manifest);
}

/** Where the built files are served from (same origin as the app). */
export function datasetUrl(id: string, file: string): string {
  return `/data/${id}/${file}`;
}

/** Where a dataset added at run time (POST /api/datasets) has its manifest, on the edge. */
export function uploadedManifestUrl(id: string): string {
  return `/api/datasets/${id}/manifest`;
}

/** Where the edge serves a dataset file added at run time: by its SHA-256, immutable. */
export function datasetFileUrl(sha256: string): string {
  return `/api/datasets/files/${sha256}`;
}

/**
 * A dataset's manifest and where its token files are, found as every client finds them: the edge's
 * API first (a dataset registered there: files by SHA-256 from R2), else the static files. The API
 * answers 404 for a dataset it does not hold, where a static path that does not exist may be
 * answered with the app's page (single-page-application fallback). `get` fetches a path on the edge.
 * The caller checks the manifest against the hash its spec pins, and each file against the manifest.
 */
export async function locateDataset(
  id: string,
  get: (path: string) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>,
): Promise<{ manifest: DatasetManifest; fileUrl: (f: z.infer<typeof TokenFile>) => string }> {
  let res = await get(uploadedManifestUrl(id));
  const uploaded = res.ok;
  if (!uploaded) res = await get(datasetUrl(id, 'manifest.json'));
  if (!res.ok) throw new Error(`Dataset ${id} is not served here (${res.status}).`);
  const manifest = DatasetManifest.parse(await res.json());
  return {
    manifest,
    fileUrl: (f) => (uploaded ? datasetFileUrl(f.sha256) : datasetUrl(id, f.file)),
  };
}

/** How many bytes a volunteer downloads for a dataset before its first step: both token files. */
export function datasetDownloadBytes(m: DatasetManifest): number {
  return (m.train.tokens + m.val.tokens) * (m.dtype === 'uint8' ? 1 : 2);
}

export type TokenArray = Uint8Array | Uint16Array;

export function decodeTokens(manifest: DatasetManifest, bytes: ArrayBuffer): TokenArray {
  return manifest.dtype === 'uint8' ? new Uint8Array(bytes) : new Uint16Array(bytes);
}

export interface BuiltDataset {
  manifest: DatasetManifest;
  train: TokenArray;
  val: TokenArray;
}

export type Tokenizer = 'char' | 'byte';

export interface BuildOptions {
  id: string;
  name: string;
  source: string;
  license: string;
  valFraction?: number; // nanoGPT's split: the last 10 % is validation
  windows?: number; // pinned validation windows
  maxContext?: number;
}

/**
 * Text → character vocabulary, train/val token arrays and a manifest. Pure, so the dataset build
 * (Node) and the tests (anywhere) make byte-identical datasets from the same text.
 */
export async function buildCharDataset(text: string, o: BuildOptions): Promise<BuiltDataset> {
  const chars = [...new Set(Array.from(text))].sort();
  const index = new Map(chars.map((c, i) => [c, i]));
  return assemble(
    text,
    Array.from(text, (c) => index.get(c)!),
    chars,
    o,
    {
      tokenBytes: chars.map((c) => new TextEncoder().encode(c).length),
    },
  );
}

/** The byte tokenizer's vocabulary: printable ASCII as itself, every other byte as <0xNN>. */
export const BYTE_VOCAB: string[] = Array.from({ length: 256 }, (_, b) =>
  b >= 0x20 && b < 0x7f
    ? String.fromCharCode(b)
    : `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
);

/**
 * Text → its UTF-8 bytes as tokens (vocabulary 256, whatever the alphabet), train/val arrays and a
 * manifest. The char tokenizer gives every distinct character a token: a text with a large alphabet
 * (Chinese, say: thousands of characters) gets a vocabulary that large, uint16 token files, and an
 * embedding and output layer that may not fit the admission policy's parameter bound; bytes always fit.
 */
export async function buildByteDataset(text: string, o: BuildOptions): Promise<BuiltDataset> {
  return assemble(text, Array.from(new TextEncoder().encode(text)), BYTE_VOCAB, o, {
    tokenizer: 'byte',
    tokenBytes: BYTE_VOCAB.map(() => 1),
  });
}

/**
 * Text → a dataset with the named tokenizer, recorded in the manifest either way (provenance: a
 * dataset added at run time says how its text became tokens; only the built-in corpora, built with
 * buildCharDataset, leave it out so that their manifests keep their hashes).
 */
export async function buildDataset(
  text: string,
  o: BuildOptions & { tokenizer: Tokenizer },
): Promise<BuiltDataset> {
  if (o.tokenizer === 'byte') return buildByteDataset(text, o);
  const d = await buildCharDataset(text, o);
  return { ...d, manifest: { ...d.manifest, tokenizer: 'char' } };
}

async function assemble(
  text: string,
  all: number[],
  vocab: string[],
  o: BuildOptions,
  extra: { tokenizer?: Tokenizer; tokenBytes: number[] },
): Promise<BuiltDataset> {
  const dtype = vocab.length <= 256 ? 'uint8' : 'uint16';
  const split = Math.floor(all.length * (1 - (o.valFraction ?? 0.1)));
  const make = (xs: number[]) => (dtype === 'uint8' ? Uint8Array.from(xs) : Uint16Array.from(xs));
  const train = make(all.slice(0, split));
  const val = make(all.slice(split));
  const maxContext = Math.min(o.maxContext ?? 512, val.length - 2);
  const count = o.windows ?? 256;
  const span = val.length - maxContext - 1; // every window needs maxContext inputs + 1 target
  const starts = Array.from({ length: count }, (_, i) => Math.floor((i * span) / count));
  const bytesOf = (t: TokenArray) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
  const manifest: DatasetManifest = {
    id: o.id,
    name: o.name,
    source: o.source,
    license: o.license,
    sourceSha256: await sha256(text),
    ...(extra.tokenizer && { tokenizer: extra.tokenizer }),
    vocab,
    tokenBytes: extra.tokenBytes,
    dtype,
    train: {
      file: 'train.bin',
      tokens: train.length,
      sha256: await sha256(bytesOf(train).slice()),
    },
    val: { file: 'val.bin', tokens: val.length, sha256: await sha256(bytesOf(val).slice()) },
    evalWindows: { maxContext, starts },
  };
  return { manifest, train, val };
}
