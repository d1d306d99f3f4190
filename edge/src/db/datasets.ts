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
