// Resumable uploads of large dataset files, on R2's multipart upload: the client starts an upload
// for a file (its SHA-256 and size), sends its parts in any order, each with the SHA-256 the edge
// checks its bytes against, asks which parts the edge holds after an interruption, and completes
// it. Completing assembles the parts at a staging key, checks the whole file's SHA-256 and only
// then stores it under datasets/<sha256>, where POST /api/datasets finds it: a file that does not
// hash to its name is deleted and the upload discarded, so nothing half-uploaded is ever served.
import { Hono, type Context } from 'hono';
import { sha256 } from '../../../shared/crypto.ts';
import {
  DATASET_LIMITS,
  PART_BYTES,
  PART_SHA_HEADER,
  partCount,
  partRange,
  UploadStart,
  type DatasetUpload,
  type UploadStarted,
} from '../../../shared/dataset-upload.ts';
import { parseBody, readBody, readCapped } from '../body.ts';
import { datasetFileKey, discardUpload, stagingKey, UPLOAD_TTL_MS } from '../dataset-sweep.ts';
import {
  insertUpload,
  openUploads,
  putPart,
  staleUploads,
  uploadById,
  uploadOfFile,
  uploadParts,
  type UploadRow,
} from '../db/dataset-uploads.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { BODY, doc } from '../openapi.ts';
import { researcherAuth } from '../researcher-auth.ts';

const AUTH = ['missing_token', 'bad_token'];
const SHA = /^[0-9a-f]{64}$/;

async function describe(db: D1Database, u: UploadRow): Promise<DatasetUpload> {
  return {
    id: u.id,
    sha256: u.sha256,
    bytes: u.bytes,
    partBytes: u.partBytes,
    parts: partCount(u.bytes, u.partBytes),
    received: (await uploadParts(db, u.id)).map((p) => ({
      partNumber: p.partNumber,
      sha256: p.sha256,
    })),
  };
}

/** The caller's upload named in the path; another researcher's is as unknown as a made-up id. */
async function ownUpload(c: Context<AppEnv>): Promise<UploadRow> {
  const u = await uploadById(c.env.DB, c.req.param('id') ?? '');
  if (!u || u.researcherId !== c.get('researcher').id)
    fail(404, 'unknown_upload', 'No unfinished upload of yours has this id.');
  return u;
}

/** R2 no longer holds the multipart upload: a concurrent complete, abort or sweep came first. */
function gone(): never {
  fail(404, 'unknown_upload', 'This upload was completed or aborted meanwhile: start it again.');
}

export const datasetUploads = new Hono<AppEnv>()
  .post(
    '/',
    doc({
      summary: `Start (or resume) a resumable upload of one dataset file {sha256, bytes} (at most ${DATASET_LIMITS.fileBytes} bytes): parts of ${PART_BYTES} bytes, the last smaller. Answers the upload with the parts the edge holds (200 when resumed), or stored: true when the file is stored already. At most ${DATASET_LIMITS.openUploads} unfinished uploads per researcher; one left unfinished for ${UPLOAD_TTL_MS / 3_600_000} h is aborted.`,
      auth: 'researcher',
      body: UploadStart,
      errors: [...AUTH, ...BODY, 'upload_limit'],
    }),
    researcherAuth,
    async (c) => {
      const start = parseBody(await readBody(c), UploadStart);
      const researcher = c.get('researcher').id;
      if (start.bytes > DATASET_LIMITS.fileBytes)
        fail(
          413,
          'payload_too_large',
          `A dataset file is limited to ${DATASET_LIMITS.fileBytes} bytes.`,
        );
      const head = await c.env.CHECKPOINTS.head(datasetFileKey(start.sha256));
      if (head?.size === start.bytes) return c.json<UploadStarted>({ stored: true, upload: null });
      const existing = await uploadOfFile(c.env.DB, researcher, start.sha256);
      if (existing?.bytes === start.bytes)
        return c.json<UploadStarted>({ stored: false, upload: await describe(c.env.DB, existing) });
      if (existing) await discardUpload(c.env.CHECKPOINTS, c.env.DB, existing); // another size: start over
      // This researcher's own abandoned uploads go first, so they never block a new one.
      for (const u of await staleUploads(c.env.DB, Date.now() - UPLOAD_TTL_MS))
        if (u.researcherId === researcher) await discardUpload(c.env.CHECKPOINTS, c.env.DB, u);
      if ((await openUploads(c.env.DB, researcher)) >= DATASET_LIMITS.openUploads)
        fail(
          403,
          'upload_limit',
          `A researcher may have ${DATASET_LIMITS.openUploads} unfinished uploads: complete or abort one first.`,
        );
      const id = `u_${crypto.randomUUID().replaceAll('-', '')}`;
      const multipart = await c.env.CHECKPOINTS.createMultipartUpload(stagingKey(id), {
        httpMetadata: { contentType: 'application/octet-stream' },
        customMetadata: { uploadedBy: researcher },
      });
      const row: UploadRow = {
        id,
        r2UploadId: multipart.uploadId,
        sha256: start.sha256,
        bytes: start.bytes,
        partBytes: PART_BYTES,
        researcherId: researcher,
        createdAt: Date.now(),
      };
      if (!(await insertUpload(c.env.DB, row))) {
        // Two starts raced: keep the one recorded, leave nothing of this one in R2.
        await multipart.abort();
        const won = (await uploadOfFile(c.env.DB, researcher, start.sha256))!;
        return c.json<UploadStarted>({ stored: false, upload: await describe(c.env.DB, won) });
      }
      return c.json<UploadStarted>({ stored: false, upload: await describe(c.env.DB, row) }, 201);
    },
  )
  .get(
    '/:id',
    doc({
      summary: 'An unfinished upload of yours: its size, part size and the parts the edge holds.',
      auth: 'researcher',
      errors: [...AUTH, 'unknown_upload'],
    }),
    researcherAuth,
    async (c) => c.json({ upload: await describe(c.env.DB, await ownUpload(c)) }),
  )
  .put(
    '/:id/parts/:part',
    doc({
      summary: `One part (raw bytes) of an upload, numbered from 1, with its SHA-256 in the ${PART_SHA_HEADER} header: kept only if the bytes hash to it and have the part's size. Sending a part again replaces it.`,
      auth: 'researcher',
      errors: [
        ...AUTH,
        'unknown_upload',
        'invalid_request',
        'payload_too_large',
        'size_mismatch',
        'part_hash_mismatch',
      ],
    }),
    researcherAuth,
    async (c) => {
      const u = await ownUpload(c);
      const parts = partCount(u.bytes, u.partBytes);
      const n = Number(c.req.param('part'));
      if (!/^[1-9][0-9]{0,4}$/.test(c.req.param('part')) || n > parts)
        fail(400, 'invalid_request', `This upload has parts 1 to ${parts}.`);
      const declared = c.req.header(PART_SHA_HEADER) ?? '';
      if (!SHA.test(declared))
        fail(
          400,
          'invalid_request',
          `Send the part's SHA-256 (64 lowercase hex) in ${PART_SHA_HEADER}.`,
        );
      const [from, to] = partRange(n, u.bytes, u.partBytes);
      const bytes = await readCapped(c, to - from);
      if (bytes.byteLength !== to - from)
        fail(422, 'size_mismatch', `Part ${n} has ${to - from} bytes, not ${bytes.byteLength}.`);
      if ((await sha256(bytes)) !== declared)
        fail(
          422,
          'part_hash_mismatch',
          `Part ${n} does not hash to the SHA-256 in ${PART_SHA_HEADER}.`,
        );
      const part = await c.env.CHECKPOINTS.resumeMultipartUpload(stagingKey(u.id), u.r2UploadId)
        .uploadPart(n, bytes)
        .catch(gone);
      await putPart(c.env.DB, u.id, {
        partNumber: n,
        sha256: declared,
        etag: part.etag,
        bytes: bytes.byteLength,
      });
      return c.json({ partNumber: n, sha256: declared, bytes: bytes.byteLength });
    },
  )
  .post(
    '/:id/complete',
    doc({
      summary:
        "Complete an upload once the edge holds every part: the parts are assembled and the whole file's SHA-256 and size checked; on a match it is stored under its SHA-256 (201), else deleted and the upload discarded (start again).",
      auth: 'researcher',
      errors: [...AUTH, 'unknown_upload', 'incomplete_upload', 'hash_mismatch'],
    }),
    researcherAuth,
    async (c) => {
      const u = await ownUpload(c);
      const held = await uploadParts(c.env.DB, u.id);
      const parts = partCount(u.bytes, u.partBytes);
      if (held.length !== parts) {
        const have = new Set(held.map((p) => p.partNumber));
        const missing = Array.from({ length: parts }, (_, i) => i + 1).filter((n) => !have.has(n));
        fail(
          409,
          'incomplete_upload',
          `Parts ${missing.join(', ')} of ${parts} are not uploaded yet.`,
          [{ path: 'parts', message: `Missing: ${missing.join(', ')}.` }],
        );
      }
      const bucket = c.env.CHECKPOINTS;
      await bucket
        .resumeMultipartUpload(stagingKey(u.id), u.r2UploadId)
        .complete(held.map((p) => ({ partNumber: p.partNumber, etag: p.etag })))
        .catch(gone);
      const staged = await bucket.get(stagingKey(u.id));
      const bytes = new Uint8Array(staged ? await staged.arrayBuffer() : new ArrayBuffer(0));
      if (bytes.byteLength !== u.bytes || (await sha256(bytes)) !== u.sha256) {
        await discardUpload(bucket, c.env.DB, u);
        fail(
          422,
          'hash_mismatch',
          `The assembled file (${bytes.byteLength} bytes) does not hash to ${u.sha256}: the upload is discarded, start it again.`,
        );
      }
      if (!(await bucket.head(datasetFileKey(u.sha256))))
        await bucket.put(datasetFileKey(u.sha256), bytes, {
          sha256: u.sha256,
          httpMetadata: { contentType: 'application/octet-stream' },
          customMetadata: { uploadedBy: u.researcherId, uploadedAt: String(Date.now()) },
        });
      await discardUpload(bucket, c.env.DB, u);
      return c.json({ sha256: u.sha256, bytes: u.bytes }, 201);
    },
  )
  .delete(
    '/:id',
    doc({
      summary: 'Abort an unfinished upload: its parts are dropped from R2.',
      auth: 'researcher',
      errors: [...AUTH, 'unknown_upload'],
    }),
    researcherAuth,
    async (c) => {
      await discardUpload(c.env.CHECKPOINTS, c.env.DB, await ownUpload(c));
      return c.json({ aborted: true });
    },
  );
