// No orphans in R2: a dataset file or upload that never became part of a registered dataset is
// removed. A refused registration deletes its own unregistered files at once (dropUnregistered);
// what a client abandons (an upload never completed, files uploaded but never registered) is swept
// once it is older than UPLOAD_TTL_MS, by the cron (sweepDatasets), and a researcher's own when they start a new upload.
import { datasetFileKey, FILE_PREFIX } from '../../shared/dataset-upload.ts';
import {
  deleteUpload,
  registeredFiles,
  staleUploads,
  uploadIds,
  type UploadRow,
} from './db/dataset-uploads.ts';

/** An upload or unregistered file is abandoned after a day: long enough to resume a slow upload. */
export const UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;

/** The R2 prefix of multipart uploads being staged (files themselves: FILE_PREFIX). */
export const STAGING_PREFIX = 'dataset-uploads/';

/** The R2 key an upload's parts are assembled at before its whole-file hash is checked. */
export function stagingKey(uploadId: string): string {
  return `${STAGING_PREFIX}${uploadId}`;
}

/** Aborts an upload's R2 multipart upload (if still open), deletes its staged object and its rows. */
export async function discardUpload(bucket: R2Bucket, db: D1Database, u: UploadRow): Promise<void> {
  try {
    await bucket.resumeMultipartUpload(stagingKey(u.id), u.r2UploadId).abort();
  } catch {
    // already completed or aborted: nothing of it left open in R2
  }
  await bucket.delete(stagingKey(u.id));
  await deleteUpload(db, u.id);
}

/**
 * Deletes the files among `shas` that no registered dataset names and that this researcher
 * uploaded (another researcher's pending file is theirs to register).
 */
export async function dropUnregistered(
  bucket: R2Bucket,
  db: D1Database,
  researcherId: string,
  shas: string[],
): Promise<void> {
  const keep = await registeredFiles(db);
  for (const sha of new Set(shas)) {
    if (keep.has(sha)) continue;
    const head = await bucket.head(datasetFileKey(sha));
    if (head?.customMetadata?.uploadedBy === researcherId) await bucket.delete(head.key);
  }
}

/** Deletes objects under `prefix` uploaded before `before` that `keep` does not name; a count. */
async function sweepPrefix(
  bucket: R2Bucket,
  prefix: string,
  before: number,
  keep: (key: string) => boolean,
): Promise<number> {
  let removed = 0;
  let cursor: string | undefined;
  for (let page = 0; page < 10; page++) {
    const list = await bucket.list({ prefix, ...(cursor && { cursor }) });
    const gone = list.objects
      .filter((o) => o.uploaded.getTime() < before && !keep(o.key))
      .map((o) => o.key);
    if (gone.length) await bucket.delete(gone);
    removed += gone.length;
    if (!list.truncated) break;
    cursor = list.cursor;
  }
  return removed;
}

/**
 * Removes what was abandoned before `now - UPLOAD_TTL_MS`: unfinished uploads (aborted), staged
 * objects no upload row owns, and files no registered dataset names. Returns what it removed.
 */
export async function sweepDatasets(
  bucket: R2Bucket,
  db: D1Database,
  now: number,
): Promise<{ uploads: number; objects: number }> {
  const before = now - UPLOAD_TTL_MS;
  const stale = await staleUploads(db, before);
  for (const u of stale) await discardUpload(bucket, db, u);
  const open = new Set((await uploadIds(db)).map(stagingKey));
  const registered = await registeredFiles(db);
  const objects =
    (await sweepPrefix(bucket, STAGING_PREFIX, before, (k) => open.has(k))) +
    (await sweepPrefix(bucket, FILE_PREFIX, before, (k) =>
      registered.has(k.slice(FILE_PREFIX.length)),
    ));
  return { uploads: stale.length, objects };
}

export { datasetFileKey, FILE_PREFIX };
