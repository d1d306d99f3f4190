import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../shared/crypto.ts';
import { buildByteDataset, manifestHash, type BuiltDataset } from '../../../shared/dataset.ts';
import type { DatasetSummary } from '../../../shared/protocol.ts';
import { WIDTH_SWEEP } from '../../test/campaign-fixtures.ts';
import {
  api,
  expectRefusal,
  json,
  OTHER_TOKEN,
  RESEARCHER_TOKEN,
  seedOtherResearcher,
  seedResearcher,
} from '../../test/helpers.ts';
import { datasetFileKey } from '../dataset-sweep.ts';

const auth = { authorization: `Bearer ${RESEARCHER_TOKEN}` };
const TEXT = 'Grüße aus dem Labor — 日本語も. '.repeat(200);

function built(id = 'lab-notes'): Promise<BuiltDataset> {
  return buildByteDataset(TEXT, {
    id,
    name: 'Lab notes',
    source: 'test',
    license: 'CC0-1.0',
    windows: 8,
    maxContext: 64,
  });
}

const bytesOf = (t: Uint8Array | Uint16Array) =>
  new Uint8Array(t.buffer, t.byteOffset, t.byteLength).slice();

function put(sha: string, body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = auth) {
  return api(`/api/datasets/files/${sha}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', ...headers },
    body,
  });
}

async function upload(d: BuiltDataset): Promise<void> {
  for (const [f, t] of [
    [d.manifest.train, d.train],
    [d.manifest.val, d.val],
  ] as const)
    expect((await put(f.sha256, bytesOf(t))).status).toBe(201);
}

async function stored(): Promise<string[]> {
  return (await env.CHECKPOINTS.list({ prefix: 'datasets/' })).objects.map((o) => o.key);
}

async function registered(): Promise<string[]> {
  const { results } = await env.DB.prepare('SELECT id FROM datasets ORDER BY id').all<{
    id: string;
  }>();
  return results.map((r) => r.id);
}

describe('datasets added at run time', () => {
  it('uploads the files by hash, registers the manifest, serves both, and takes a campaign', async () => {
    await seedResearcher();
    const d = await built();
    await upload(d);
    await upload(d); // idempotent
    const res = await api('/api/datasets', json(d.manifest, auth));
    expect(res.status).toBe(201);
    const { dataset } = (await res.json()) as { dataset: DatasetSummary };
    expect(dataset).toEqual({
      id: 'lab-notes',
      name: 'Lab notes',
      vocabSize: 256,
      manifestSha256: await manifestHash(d.manifest),
    });
    expect(
      ((await (await api('/api/datasets')).json()) as { datasets: DatasetSummary[] }).datasets,
    ).toContainEqual(dataset);
    // Registering the same manifest again changes nothing.
    expect((await api('/api/datasets', json(d.manifest, auth))).status).toBe(200);

    const manifest = await api('/api/datasets/lab-notes/manifest');
    expect(await manifest.json()).toEqual(d.manifest);

    const file = await api(`/api/datasets/files/${d.manifest.val.sha256}`);
    expect(file.status).toBe(200);
    expect(file.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const bytes = new Uint8Array(await file.arrayBuffer());
    expect(await sha256(bytes)).toBe(d.manifest.val.sha256);
    const part = await api(`/api/datasets/files/${d.manifest.val.sha256}`, {
      headers: { range: 'bytes=10-19' },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${bytes.length}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(10, 20));

    const campaign = await api(
      '/api/campaigns',
      json({ ...WIDTH_SWEEP, datasetId: 'lab-notes' }, auth),
    );
    expect(campaign.status).toBe(201);
    const spec = await env.DB.prepare('SELECT spec_json AS s FROM experiments LIMIT 1').first<{
      s: string;
    }>();
    expect(JSON.parse(spec!.s)).toMatchObject({
      dataset: { id: 'lab-notes', sha256: dataset.manifestSha256 },
      model: { vocabSize: 256 },
    });
  });

  it('refuses bad uploads and manifests with a stable code, registering nothing and leaving no file in R2', async () => {
    await seedResearcher();
    await seedOtherResearcher();
    const d = await built();
    const train = bytesOf(d.train);
    await expectRefusal(await put(d.manifest.train.sha256, train, {}), 401, 'missing_token');
    await expectRefusal(await put(d.manifest.val.sha256, train), 422, 'hash_mismatch');
    await expectRefusal(await put('not-a-hash', train), 400, 'invalid_request');
    expect(await stored()).toEqual([]);

    // The val file was never uploaded: refused, and the train file uploaded for it is deleted.
    expect((await put(d.manifest.train.sha256, train)).status).toBe(201);
    await expectRefusal(await api('/api/datasets', json(d.manifest, auth)), 422, 'missing_file');
    expect(await stored()).toEqual([]);
    await upload(d);
    await expectRefusal(await api('/api/datasets', json(d.manifest)), 401, 'missing_token');
    expect(await stored()).toHaveLength(2); // an unauthenticated request deletes nothing
    const wrongSize = { ...d.manifest, train: { ...d.manifest.train, tokens: d.train.length + 1 } };
    const wrongDtype = { ...d.manifest, dtype: 'uint16' };
    const big = { ...d.manifest, train: { ...d.manifest.train, tokens: 60_000_000 } };
    for (const [manifest, status, code] of [
      [wrongSize, 422, 'size_mismatch'],
      [wrongDtype, 422, 'invalid_manifest'],
      [big, 413, 'dataset_too_large'],
      [{ ...d.manifest, id: 'test' }, 409, 'dataset_taken'], // the built-in test dataset
      [{ ...d.manifest, id: 'uploads' }, 422, 'invalid_manifest'], // its manifest URL is a route
    ] as const) {
      await upload(d);
      await expectRefusal(await api('/api/datasets', json(manifest, auth)), status, code);
      expect(await stored()).toEqual([]); // no orphans in R2
    }
    const badTokenizer = { ...d.manifest, tokenizer: 'bpe' };
    await expectRefusal(
      await api('/api/datasets', json(badTokenizer, auth)),
      400,
      'invalid_request',
    );
    expect(await registered()).toEqual(['test']);

    await upload(d);
    expect((await api('/api/datasets', json(d.manifest, auth))).status).toBe(201);
    await expectRefusal(
      await api('/api/datasets', json(d.manifest, { authorization: `Bearer ${OTHER_TOKEN}` })),
      409,
      'dataset_taken',
    );
    expect(await registered()).toEqual(['lab-notes', 'test']);
    expect(await stored()).toEqual(
      [d.manifest.train.sha256, d.manifest.val.sha256].map(datasetFileKey).sort(),
    );
    await expectRefusal(await api(`/api/datasets/files/${'0'.repeat(64)}`), 404, 'unknown_file');
    await expectRefusal(await api('/api/datasets/test/manifest'), 404, 'unknown_dataset');
  });
});
