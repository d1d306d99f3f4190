// Resumable multipart uploads of dataset files in real workerd with R2: an interrupted upload is
// resumed, a bad part and a file that does not hash to its name are refused, and no refusal or
// abandoned upload leaves an object in R2 (each case lists the bucket afterwards).
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../shared/crypto.ts';
import { buildByteDataset, type DatasetManifest } from '../../../shared/dataset.ts';
import {
  PART_BYTES,
  PART_SHA_HEADER,
  partRange,
  type UploadStarted,
} from '../../../shared/dataset-upload.ts';
import {
  api,
  expectRefusal,
  json,
  OTHER_TOKEN,
  RESEARCHER_TOKEN,
  seedOtherResearcher,
  seedResearcher,
} from '../../test/helpers.ts';
import {
  datasetFileKey,
  FILE_PREFIX,
  STAGING_PREFIX,
  sweepDatasets,
  UPLOAD_TTL_MS,
} from '../dataset-sweep.ts';

const auth = { authorization: `Bearer ${RESEARCHER_TOKEN}` };

/** Random bytes: 2 full parts and a short last one. */
function randomFile(bytes = 2 * PART_BYTES + 1234): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 65536) crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

async function start(file: Uint8Array<ArrayBuffer>, headers = auth, sha?: string) {
  const body = { sha256: sha ?? (await sha256(file)), bytes: file.byteLength };
  return api('/api/datasets/uploads', json(body, headers));
}

async function started(res: Response, status = 201): Promise<UploadStarted> {
  expect(res.status).toBe(status);
  return (await res.json()) as UploadStarted;
}

async function putPart(id: string, n: number, file: Uint8Array<ArrayBuffer>, sha?: string) {
  const [from, to] = partRange(n, file.byteLength);
  const bytes = file.slice(from, to);
  return api(`/api/datasets/uploads/${id}/parts/${n}`, {
    method: 'PUT',
    headers: { ...auth, [PART_SHA_HEADER]: sha ?? (await sha256(bytes)) },
    body: bytes,
  });
}

const complete = (id: string) =>
  api(`/api/datasets/uploads/${id}/complete`, { method: 'POST', headers: auth });

/** Every object under the dataset prefixes, and the upload rows. */
async function leftovers(): Promise<{ objects: string[]; uploads: number; parts: number }> {
  const objects: string[] = [];
  for (const prefix of [FILE_PREFIX, STAGING_PREFIX])
    objects.push(...(await env.CHECKPOINTS.list({ prefix })).objects.map((o) => o.key));
  const count = async (t: string) =>
    (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${t}`).first<{ n: number }>())!.n;
  return {
    objects: objects.sort(),
    uploads: await count('dataset_uploads'),
    parts: await count('dataset_upload_parts'),
  };
}

const NOTHING = { objects: [], uploads: 0, parts: 0 };

/** Whether R2 still holds the multipart upload open: it takes a part. */
async function openInR2(id: string, r2UploadId: string): Promise<boolean> {
  const mp = env.CHECKPOINTS.resumeMultipartUpload(`${STAGING_PREFIX}${id}`, r2UploadId);
  return mp.uploadPart(3, new Uint8Array(10)).then(
    () => true,
    () => false,
  );
}

async function r2Id(id: string): Promise<string> {
  const row = await env.DB.prepare('SELECT r2_upload_id AS r FROM dataset_uploads WHERE id = ?')
    .bind(id)
    .first<{ r: string }>();
  return row!.r;
}

/** A small byte dataset whose train file is replaced by `train` (uint8 tokens: any bytes). */
async function manifestWithTrain(train: Uint8Array<ArrayBuffer>) {
  const d = await buildByteDataset('Notes from the bench. '.repeat(300), {
    id: 'big-notes',
    name: 'Big notes',
    source: 'test',
    license: 'CC0-1.0',
    windows: 8,
    maxContext: 64,
  });
  const manifest: DatasetManifest = {
    ...d.manifest,
    train: { file: 'train.bin', tokens: train.byteLength, sha256: await sha256(train) },
  };
  const val = new Uint8Array(d.val.buffer, d.val.byteOffset, d.val.byteLength).slice();
  return { manifest, val };
}

describe('resumable dataset uploads', () => {
  it('resumes an interrupted upload, completes it, and the file registers a dataset', async () => {
    await seedResearcher();
    const file = randomFile();
    const first = (await started(await start(file))).upload!;
    expect(first).toMatchObject({ bytes: file.byteLength, partBytes: PART_BYTES, parts: 3 });
    expect(first.received).toEqual([]);
    expect((await putPart(first.id, 1, file)).status).toBe(200);
    expect((await putPart(first.id, 3, file)).status).toBe(200);
    // Interrupted here; the client starts again and learns which parts the edge holds.
    const again = (await started(await start(file), 200)).upload!;
    expect(again.id).toBe(first.id);
    expect(again.received.map((p) => p.partNumber)).toEqual([1, 3]);
    const [from, to] = partRange(3, file.byteLength);
    expect(again.received[1]!.sha256).toBe(await sha256(file.slice(from, to)));
    const looked = await api(`/api/datasets/uploads/${first.id}`, { headers: auth });
    expect(((await looked.json()) as UploadStarted).upload).toEqual(again);
    await expectRefusal(await complete(first.id), 409, 'incomplete_upload');
    expect((await putPart(first.id, 2, file)).status).toBe(200);
    const done = await complete(first.id);
    expect(done.status).toBe(201);
    const sha = await sha256(file);
    expect(await done.json()).toEqual({ sha256: sha, bytes: file.byteLength });
    expect(await leftovers()).toEqual({ objects: [datasetFileKey(sha)], uploads: 0, parts: 0 });
    const served = await api(`/api/datasets/files/${sha}`);
    expect(await sha256(new Uint8Array(await served.arrayBuffer()))).toBe(sha);
    // Starting it once more: already stored, nothing to send.
    expect(await started(await start(file), 200)).toEqual({ stored: true, upload: null });

    const { manifest, val } = await manifestWithTrain(file);
    const putVal = await api(`/api/datasets/files/${manifest.val.sha256}`, {
      method: 'PUT',
      headers: auth,
      body: val,
    });
    expect(putVal.status).toBe(201);
    expect((await api('/api/datasets', json(manifest, auth))).status).toBe(201);
  });

  it('refuses a bad part with a stable code and keeps none of it', async () => {
    await seedResearcher();
    await seedOtherResearcher();
    const file = randomFile();
    const { id } = (await started(await start(file))).upload!;
    const wrong = await sha256(file.slice(0, 10));
    await expectRefusal(await putPart(id, 1, file, wrong), 422, 'part_hash_mismatch');
    await expectRefusal(await putPart(id, 1, file, 'not-hex'), 400, 'invalid_request');
    await expectRefusal(await putPart(id, 4, file), 400, 'invalid_request');
    const short = file.slice(0, 100);
    const shortPut = await api(`/api/datasets/uploads/${id}/parts/1`, {
      method: 'PUT',
      headers: { ...auth, [PART_SHA_HEADER]: await sha256(short) },
      body: short,
    });
    await expectRefusal(shortPut, 422, 'size_mismatch');
    const foreign = await api(`/api/datasets/uploads/${id}`, {
      headers: { authorization: `Bearer ${OTHER_TOKEN}` },
    });
    await expectRefusal(foreign, 404, 'unknown_upload');
    await expectRefusal(await api(`/api/datasets/uploads/${id}`), 401, 'missing_token');
    const again = (await started(await start(file), 200)).upload!;
    expect(again.received).toEqual([]);
    const huge = { sha256: 'f'.repeat(64), bytes: 33 * 2 ** 20 };
    await expectRefusal(
      await api('/api/datasets/uploads', json(huge, auth)),
      413,
      'payload_too_large',
    );
    expect(await leftovers()).toEqual({ objects: [], uploads: 1, parts: 0 });
  });

  it('discards a file that does not hash to its name, leaving nothing in R2', async () => {
    await seedResearcher();
    const claimed = randomFile();
    const sent = randomFile(); // same size, other bytes: every part checks, the whole does not
    const { id } = (await started(await start(sent, auth, await sha256(claimed)))).upload!;
    const r2 = await r2Id(id);
    for (const n of [1, 2, 3]) expect((await putPart(id, n, sent)).status).toBe(200);
    await expectRefusal(await complete(id), 422, 'hash_mismatch');
    expect(await leftovers()).toEqual(NOTHING);
    await expectRefusal(await complete(id), 404, 'unknown_upload');
    expect(await openInR2(id, r2)).toBe(false);
  });

  it('an aborted upload, and abandoned ones after the TTL, leave nothing behind', async () => {
    await seedResearcher();
    const file = randomFile();
    const aborted = (await started(await start(file))).upload!;
    const abortedR2 = await r2Id(aborted.id);
    expect((await putPart(aborted.id, 1, file)).status).toBe(200);
    expect(await openInR2(aborted.id, abortedR2)).toBe(true);
    const del = await api(`/api/datasets/uploads/${aborted.id}`, {
      method: 'DELETE',
      headers: auth,
    });
    expect(await del.json()).toEqual({ aborted: true });
    expect(await leftovers()).toEqual(NOTHING);
    expect(await openInR2(aborted.id, abortedR2)).toBe(false);

    // Abandoned: an upload with one part, and a single file uploaded but never registered.
    const { id } = (await started(await start(file))).upload!;
    const abandonedR2 = await r2Id(id);
    expect((await putPart(id, 2, file)).status).toBe(200);
    const single = randomFile(4096);
    const singleSha = await sha256(single);
    const put = await api(`/api/datasets/files/${singleSha}`, {
      method: 'PUT',
      headers: auth,
      body: single,
    });
    expect(put.status).toBe(201);
    // Within the TTL nothing is touched; past it, everything goes.
    expect(await sweepDatasets(env.CHECKPOINTS, env.DB, Date.now())).toEqual({
      uploads: 0,
      objects: 0,
    });
    expect((await leftovers()).uploads).toBe(1);
    expect(await openInR2(id, abandonedR2)).toBe(true);
    const later = Date.now() + UPLOAD_TTL_MS + 60_000;
    expect(await sweepDatasets(env.CHECKPOINTS, env.DB, later)).toEqual({ uploads: 1, objects: 1 });
    expect(await leftovers()).toEqual(NOTHING);
    expect(await openInR2(id, abandonedR2)).toBe(false);
  });

  it('answers 404, not 500, for an upload R2 dropped meanwhile (a concurrent complete, abort or sweep)', async () => {
    await seedResearcher();
    const file = randomFile();
    const { id } = (await started(await start(file))).upload!;
    for (const n of [1, 2]) expect((await putPart(id, n, file)).status).toBe(200);
    await env.CHECKPOINTS.resumeMultipartUpload(`${STAGING_PREFIX}${id}`, await r2Id(id)).abort();
    await expectRefusal(await putPart(id, 3, file), 404, 'unknown_upload');
    await env.DB.prepare(
      "INSERT INTO dataset_upload_parts (upload_id, part_number, sha256, etag, bytes) VALUES (?, 3, ?, 'x', 1)",
    )
      .bind(id, 'e'.repeat(64))
      .run(); // as if part 3 had been recorded just before
    await expectRefusal(await complete(id), 404, 'unknown_upload');
    expect((await leftovers()).objects).toEqual([]);
  });

  it('limits the unfinished uploads of one researcher', async () => {
    await seedResearcher();
    for (let i = 0; i < 4; i++) await started(await start(randomFile(PART_BYTES + i + 1)));
    await expectRefusal(await start(randomFile(PART_BYTES + 9)), 403, 'upload_limit');
    expect((await leftovers()).uploads).toBe(4);
  });
});
