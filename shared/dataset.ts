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
  vocab: z.array(z.string()), // token id → character
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

export type TokenArray = Uint8Array | Uint16Array;

export function decodeTokens(manifest: DatasetManifest, bytes: ArrayBuffer): TokenArray {
  return manifest.dtype === 'uint8' ? new Uint8Array(bytes) : new Uint16Array(bytes);
}

export interface BuiltDataset {
  manifest: DatasetManifest;
  train: TokenArray;
  val: TokenArray;
}

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
  const dtype = chars.length <= 256 ? 'uint8' : 'uint16';
  const all = Array.from(text, (c) => index.get(c)!);
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
    vocab: chars,
    tokenBytes: chars.map((c) => new TextEncoder().encode(c).length),
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
