// Loads a dataset for a spec: the manifest must hash to the spec's dataset SHA-256, and each token
// file is read from IndexedDB under its SHA-256, or fetched, checked and stored there once.
import { sha256 } from '../../../shared/crypto.ts';
import {
  DatasetManifest,
  datasetUrl,
  decodeTokens,
  manifestHash,
} from '../../../shared/dataset.ts';
import type { DatasetRef } from '../../../shared/spec.ts';
import type { TrainData } from '../../../shared/train/loop.ts';
import { openStore } from '../lib/db.ts';

export type DatasetProgress = (p: { loaded: number; total: number; cached: boolean }) => void;

async function fetchChecked(url: string, expected: string): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Could not download ${url} (${res.status}).`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if ((await sha256(bytes)) !== expected) throw new Error(`${url} does not match its SHA-256.`);
  return bytes.buffer;
}

async function cachedFile(
  id: string,
  file: string,
  hash: string,
): Promise<{ buffer: ArrayBuffer; cached: boolean }> {
  const store = await openStore();
  const hit = await store.get('blobs', hash);
  if (hit && (await sha256(new Uint8Array(hit))) === hash) return { buffer: hit, cached: true };
  const buffer = await fetchChecked(datasetUrl(id, file), hash);
  try {
    await store.put('blobs', buffer, hash);
  } catch (err) {
    // Over quota: train from memory this time and say why the next start downloads again.
    console.warn(`Dataset not cached (${(err as Error).name}): the browser refused the storage.`);
  }
  return { buffer, cached: false };
}

export async function loadDataset(
  ref: DatasetRef,
  onProgress: DatasetProgress,
): Promise<TrainData> {
  const res = await fetch(datasetUrl(ref.id, 'manifest.json'));
  if (!res.ok) throw new Error(`Dataset ${ref.id} is not served here (${res.status}).`);
  const manifest = DatasetManifest.parse(await res.json());
  if ((await manifestHash(manifest)) !== ref.sha256) {
    throw new Error(
      `Dataset ${ref.id} on this server differs from the one the experiment was made for.`,
    );
  }
  onProgress({ loaded: 0, total: 2, cached: false });
  const train = await cachedFile(ref.id, manifest.train.file, manifest.train.sha256);
  onProgress({ loaded: 1, total: 2, cached: train.cached });
  const val = await cachedFile(ref.id, manifest.val.file, manifest.val.sha256);
  onProgress({ loaded: 2, total: 2, cached: train.cached && val.cached });
  return {
    manifest,
    train: decodeTokens(manifest, train.buffer),
    val: decodeTokens(manifest, val.buffer),
  };
}
