// Rows of resumable dataset uploads: the upload (its R2 multipart id, the file it must become) and
// the parts the edge holds. Which files registered datasets still use, for the orphan sweep.

export interface UploadRow {
  id: string;
  r2UploadId: string;
  sha256: string;
  bytes: number;
  partBytes: number;
  researcherId: string;
  createdAt: number;
}

export interface PartRow {
  partNumber: number;
  sha256: string;
  etag: string;
  bytes: number;
}

const UPLOAD_COLUMNS = `id, r2_upload_id AS r2UploadId, sha256, bytes, part_bytes AS partBytes,
  researcher_id AS researcherId, created_at AS createdAt`;

export function uploadById(db: D1Database, id: string): Promise<UploadRow | null> {
  return db
    .prepare(`SELECT ${UPLOAD_COLUMNS} FROM dataset_uploads WHERE id = ?`)
    .bind(id)
    .first<UploadRow>();
}

/** A researcher's unfinished upload of the file with this SHA-256, or null. */
export function uploadOfFile(
  db: D1Database,
  researcherId: string,
  sha256: string,
): Promise<UploadRow | null> {
  return db
    .prepare(`SELECT ${UPLOAD_COLUMNS} FROM dataset_uploads WHERE researcher_id = ? AND sha256 = ?`)
    .bind(researcherId, sha256)
    .first<UploadRow>();
}

export async function openUploads(db: D1Database, researcherId: string): Promise<number> {
  const row = await db
    .prepare('SELECT COUNT(*) AS n FROM dataset_uploads WHERE researcher_id = ?')
    .bind(researcherId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Records a new upload; false when the researcher started one for this file meanwhile. */
export async function insertUpload(db: D1Database, u: UploadRow): Promise<boolean> {
  const res = await db
    .prepare(
      `INSERT OR IGNORE INTO dataset_uploads (id, r2_upload_id, sha256, bytes, part_bytes, researcher_id, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(u.id, u.r2UploadId, u.sha256, u.bytes, u.partBytes, u.researcherId, u.createdAt)
    .run();
  return res.meta.changes === 1;
}

export async function uploadParts(db: D1Database, uploadId: string): Promise<PartRow[]> {
  const { results } = await db
    .prepare(
      'SELECT part_number AS partNumber, sha256, etag, bytes FROM dataset_upload_parts WHERE upload_id = ? ORDER BY part_number',
    )
    .bind(uploadId)
    .all<PartRow>();
  return results;
}

/** Records a part R2 accepted (a part sent again replaces the earlier one, as in R2). */
export async function putPart(db: D1Database, uploadId: string, p: PartRow): Promise<void> {
  await db
    .prepare(
      'INSERT OR REPLACE INTO dataset_upload_parts (upload_id, part_number, sha256, etag, bytes) VALUES (?, ?, ?, ?, ?)',
    )
    .bind(uploadId, p.partNumber, p.sha256, p.etag, p.bytes)
    .run();
}

export async function deleteUpload(db: D1Database, id: string): Promise<void> {
  await db.batch([
    db.prepare('DELETE FROM dataset_upload_parts WHERE upload_id = ?').bind(id),
    db.prepare('DELETE FROM dataset_uploads WHERE id = ?').bind(id),
  ]);
}

/** Uploads started before `before` (the sweep's), oldest first. */
export async function staleUploads(
  db: D1Database,
  before: number,
  limit = 50,
): Promise<UploadRow[]> {
  const { results } = await db
    .prepare(
      `SELECT ${UPLOAD_COLUMNS} FROM dataset_uploads WHERE created_at < ? ORDER BY created_at LIMIT ?`,
    )
    .bind(before, limit)
    .all<UploadRow>();
  return results;
}

export async function uploadIds(db: D1Database): Promise<string[]> {
  const { results } = await db.prepare('SELECT id FROM dataset_uploads').all<{ id: string }>();
  return results.map((r) => r.id);
}

/** The SHA-256 of every token file a registered dataset names (their files must stay in R2). */
export async function registeredFiles(db: D1Database): Promise<Set<string>> {
  const { results } = await db
    .prepare(
      `SELECT json_extract(manifest_json, '$.train.sha256') AS t, json_extract(manifest_json, '$.val.sha256') AS v
      FROM datasets WHERE manifest_json IS NOT NULL`,
    )
    .all<{ t: string; v: string }>();
  return new Set(results.flatMap((r) => [r.t, r.v]));
}
