// Loads a dataset for a spec: the manifest must hash to the spec's dataset SHA-256, and each token
// file is read from IndexedDB under its SHA-256, or fetched, checked and stored there once. A
// built-in dataset is served as static files (/data/<id>/); one a researcher added at run time comes
// from the edge: its manifest from /api/datasets/<id>/manifest, its files by SHA-256 from R2. When
// storage is tight the least recently used dataset files make room (dataset-lru.ts).
import { sha256 } from '../../../shared/crypto.ts';
import { decodeTokens, locateDataset, manifestHash } from '../../../shared/dataset.ts';
import type { DatasetRef } from '../../../shared/spec.ts';
import type { TrainData } from '../../../shared/train/loop.ts';
import { openStore } from '../lib/db.ts';
import { evictionPlan } from './dataset-lru.ts';

export type DatasetProgress = (p: { loaded: number; total: number; cached: boolean }) => void;

async function fetchChecked(url: string, expected: string): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Could not download ${url} (${res.status}).`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if ((await sha256(bytes)) !== expected) throw new Error(`${url} does not match its SHA-256.`);
  return bytes.buffer;
}

const ESTIMATE_MS = 2000;

/**
 * Makes room for `incoming` bytes when the browser's storage is tight: drops the least recently
 * used dataset files (dataset-lru.ts), never those of the dataset being loaded. Without
 * navigator.storage.estimate() (older browsers) it leaves the cache alone.
 */
async function makeRoom(incoming: number, keep: ReadonlySet<string>): Promise<void> {
  // The estimate is advisory: one that does not come within ESTIMATE_MS leaves the cache alone
  // rather than hold up training (WebKitGTK's worker stalled a volunteer's start in 1 of 3 runs).
  const late = new Promise<undefined>((r) => setTimeout(() => r(undefined), ESTIMATE_MS));
  const estimate = await Promise.race([
    navigator.storage?.estimate?.().catch(() => undefined),
    late,
  ]);
  if (estimate?.quota === undefined || estimate.usage === undefined) return;
  const store = await openStore();
  const files = await store.getAll('datasetFiles');
  const drop = evictionPlan(
    files,
    { usage: estimate.usage, quota: estimate.quota },
    incoming,
    keep,
  );
  for (const sha of drop) {
    await store.delete('blobs', sha);
    await store.delete('datasetFiles', sha);
  }
  if (drop.length)
    console.info(`Dataset cache: dropped ${drop.length} least recently used file(s) for room.`);
}

async function cachedFile(
  url: string,
  hash: string,
  keep: ReadonlySet<string>,
): Promise<{ buffer: ArrayBuffer; cached: boolean }> {
  const store = await openStore();
  const hit = await store.get('blobs', hash);
  if (hit && (await sha256(new Uint8Array(hit))) === hash) {
    await store.put(
      'datasetFiles',
      { sha256: hash, bytes: hit.byteLength, lastUsed: Date.now() },
      hash,
    );
    return { buffer: hit, cached: true };
  }
  const buffer = await fetchChecked(url, hash);
  try {
    await makeRoom(buffer.byteLength, keep);
    await store.put('blobs', buffer, hash);
    await store.put(
      'datasetFiles',
      { sha256: hash, bytes: buffer.byteLength, lastUsed: Date.now() },
      hash,
    );
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
  const { manifest, fileUrl: url } = await locateDataset(ref.id, (path) => fetch(path));
  if ((await manifestHash(manifest)) !== ref.sha256) {
    throw new Error(
      `Dataset ${ref.id} on this server differs from the one the experiment was made for.`,
    );
  }
  onProgress({ loaded: 0, total: 2, cached: false });
  const keep = new Set([manifest.train.sha256, manifest.val.sha256]);
  const train = await cachedFile(url(manifest.train), manifest.train.sha256, keep);
  onProgress({ loaded: 1, total: 2, cached: train.cached });
  const val = await cachedFile(url(manifest.val), manifest.val.sha256, keep);
  onProgress({ loaded: 2, total: 2, cached: train.cached && val.cached });
  return {
    manifest,
    train: decodeTokens(manifest, train.buffer),
    val: decodeTokens(manifest, val.buffer),
  };
}
