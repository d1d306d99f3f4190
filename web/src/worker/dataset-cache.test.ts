import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  buildByteDataset,
  buildCharDataset,
  manifestHash,
  type BuiltDataset,
} from '../../../shared/dataset.ts';
import { openStore } from '../lib/db.ts';
import { loadDataset } from './dataset-cache.ts';
import { QUOTA_RESERVE } from './dataset-lru.ts';

const TEXT = 'Volunteers train small models in their browsers. '.repeat(60);
const OPTS = { name: 'T', source: 'test', license: 'CC0-1.0', windows: 4, maxContext: 16 };
const bytes = (t: Uint8Array | Uint16Array) =>
  new Uint8Array(t.buffer, t.byteOffset, t.byteLength).slice().buffer;

/** An origin serving `routes` (path → body), 404 elsewhere; records every path fetched. */
function serve(routes: Record<string, unknown>): string[] {
  const fetched: string[] = [];
  vi.stubGlobal('fetch', async (url: string) => {
    fetched.push(url);
    const body = routes[url];
    if (body === undefined) return new Response('{"error":"not_found"}', { status: 404 });
    return new Response(body instanceof ArrayBuffer ? body : JSON.stringify(body));
  });
  return fetched;
}

async function ref(d: BuiltDataset) {
  return { id: d.manifest.id, sha256: await manifestHash(d.manifest) };
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('loadDataset', () => {
  it('loads a dataset added at run time from the edge: manifest by id, files by SHA-256, then from IndexedDB', async () => {
    const d = await buildByteDataset(TEXT, { ...OPTS, id: 'uploaded' });
    const fetched = serve({
      '/api/datasets/uploaded/manifest': d.manifest,
      [`/api/datasets/files/${d.manifest.train.sha256}`]: bytes(d.train),
      [`/api/datasets/files/${d.manifest.val.sha256}`]: bytes(d.val),
    });
    const data = await loadDataset(await ref(d), () => {});
    expect(data.manifest).toEqual(d.manifest);
    expect(data.train).toEqual(d.train);
    expect(data.val).toEqual(d.val);
    expect(fetched).toHaveLength(3);
    const progress: boolean[] = [];
    await loadDataset(await ref(d), (p) => progress.push(p.cached));
    expect(fetched).toHaveLength(4); // the manifest only: the files come from IndexedDB by hash
    expect(progress.at(-1)).toBe(true);
  });

  it('loads a built-in dataset from its static files, and refuses a manifest of another hash', async () => {
    const d = await buildCharDataset(TEXT, { ...OPTS, id: 'builtin' });
    const fetched = serve({
      '/data/builtin/manifest.json': d.manifest,
      '/data/builtin/train.bin': bytes(d.train),
      '/data/builtin/val.bin': bytes(d.val),
    });
    expect((await loadDataset(await ref(d), () => {})).val).toEqual(d.val);
    expect(fetched.slice(0, 2)).toEqual([
      '/api/datasets/builtin/manifest',
      '/data/builtin/manifest.json',
    ]);
    await expect(loadDataset({ id: 'builtin', sha256: 'f'.repeat(64) }, () => {})).rejects.toThrow(
      /differs from the one the experiment was made for/,
    );
  });

  it('refuses a file whose bytes do not match the manifest', async () => {
    const d = await buildByteDataset(TEXT.toUpperCase(), { ...OPTS, id: 'tampered' }); // not cached
    serve({
      '/api/datasets/tampered/manifest': d.manifest,
      [`/api/datasets/files/${d.manifest.train.sha256}`]: bytes(d.val),
    });
    await expect(loadDataset(await ref(d), () => {})).rejects.toThrow(/does not match its SHA-256/);
  });

  it('evicts the least recently used dataset when the quota is tight, never the one being loaded', async () => {
    const sets = await Promise.all(
      ['one', 'two', 'six'].map((id) =>
        buildByteDataset(`${id} corpus. `.repeat(300), { ...OPTS, id: `lru-${id}` }),
      ),
    );
    const [a, b, c] = sets as [BuiltDataset, BuiltDataset, BuiltDataset];
    const size = (d: BuiltDataset) => d.train.byteLength + d.val.byteLength;
    const routes: Record<string, unknown> = {};
    for (const d of sets) {
      routes[`/api/datasets/${d.manifest.id}/manifest`] = d.manifest;
      routes[`/api/datasets/files/${d.manifest.train.sha256}`] = bytes(d.train);
      routes[`/api/datasets/files/${d.manifest.val.sha256}`] = bytes(d.val);
    }
    const fetched = serve(routes);
    // The browser's estimate: what the dataset cache holds, under a quota that fits two datasets
    // (of equal size here) and half a validation file.
    const store = await openStore();
    await store.clear('blobs'); // the earlier tests' datasets
    await store.clear('datasetFiles');
    const usable = size(a) + size(c) + b.val.byteLength / 2;
    Object.defineProperty(navigator, 'storage', {
      configurable: true,
      value: {
        estimate: async () => ({
          usage: (await store.getAll('datasetFiles')).reduce((n, f) => n + f.bytes, 0),
          quota: usable / (1 - QUOTA_RESERVE),
        }),
      },
    });
    let clock = 1_000;
    vi.spyOn(Date, 'now').mockImplementation(() => (clock += 1000));
    const cached = async () => new Set(await store.getAllKeys('blobs'));
    const files = (d: BuiltDataset) => [d.manifest.train.sha256, d.manifest.val.sha256];

    await loadDataset(await ref(a), () => {});
    await loadDataset(await ref(b), () => {});
    await loadDataset(await ref(a), () => {}); // a is used again: b is now the least recent
    const before = fetched.length;
    await loadDataset(await ref(c), () => {});
    expect(fetched.length).toBe(before + 3); // c's manifest and files
    const held = await cached();
    for (const sha of [...files(a), ...files(c)]) expect(held.has(sha)).toBe(true);
    for (const sha of files(b)) expect(held.has(sha)).toBe(false);
    expect((await store.getAll('datasetFiles')).map((f) => f.sha256).sort()).toEqual(
      [...files(a), ...files(c)].sort(),
    );
    // b loads again from the edge (and a, least recent now, makes room for it).
    await loadDataset(await ref(b), () => {});
    expect(fetched.length).toBe(before + 6);
    for (const sha of files(a)) expect((await cached()).has(sha)).toBe(false);
  });
});
