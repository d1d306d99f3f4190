// Dataset rows: the registered datasets, and the reference a campaign's specs carry for one.
import type { DatasetSummary } from '../../../shared/protocol.ts';

export async function listDatasets(db: D1Database): Promise<DatasetSummary[]> {
  const { results } = await db
    .prepare(
      'SELECT id, name, vocab_size AS vocabSize, manifest_sha256 AS manifestSha256 FROM datasets ORDER BY id',
    )
    .all<DatasetSummary>();
  return results;
}

/** The manifest hash and vocabulary of a registered dataset, or null. */
export function datasetRef(
  db: D1Database,
  id: string,
): Promise<{ sha256: string; vocabSize: number } | null> {
  return db
    .prepare('SELECT manifest_sha256 AS sha256, vocab_size AS vocabSize FROM datasets WHERE id = ?')
    .bind(id)
    .first<{ sha256: string; vocabSize: number }>();
}

/** Who registered a dataset (null: built in) and its manifest hash, or null when the id is free. */
export function datasetOwner(
  db: D1Database,
  id: string,
): Promise<{ researcherId: string | null; manifestSha256: string } | null> {
  return db
    .prepare(
      'SELECT researcher_id AS researcherId, manifest_sha256 AS manifestSha256 FROM datasets WHERE id = ?',
    )
    .bind(id)
    .first();
}

export async function researcherDatasets(db: D1Database, researcherId: string): Promise<number> {
  const row = await db
    .prepare('SELECT COUNT(*) AS n FROM datasets WHERE researcher_id = ?')
    .bind(researcherId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export interface UploadedDataset extends DatasetSummary {
  researcherId: string;
  manifestJson: string;
  bytes: number;
}

/** Registers an uploaded dataset; false when its id was taken meanwhile (nothing written). */
export async function insertDataset(db: D1Database, d: UploadedDataset): Promise<boolean> {
  const res = await db
    .prepare(
      `INSERT OR IGNORE INTO datasets (id, manifest_sha256, vocab_size, name, registered_at, researcher_id, manifest_json, bytes)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      d.id,
      d.manifestSha256,
      d.vocabSize,
      d.name,
      Date.now(),
      d.researcherId,
      d.manifestJson,
      d.bytes,
    )
    .run();
  return res.meta.changes === 1;
}

/** An uploaded dataset's manifest as registered, or null (unknown, or built in). */
export async function uploadedManifest(db: D1Database, id: string): Promise<string | null> {
  const row = await db
    .prepare('SELECT manifest_json AS m FROM datasets WHERE id = ?')
    .bind(id)
    .first<{ m: string | null }>();
  return row?.m ?? null;
}
