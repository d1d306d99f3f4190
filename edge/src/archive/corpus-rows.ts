// The corpus's view of archived results: the full metrics of each result, read back from the
// segments its D1 summaries name. A corpus page holds at most 500 experiments, and a segment 500 of
// one campaign in the same (verified_at, id) order, so a page reads one or two segments per campaign.
import type { ResultRow } from './campaigns.ts';
import { readSegment } from './store.ts';

/** Result id → its metrics JSON as first stored, for every result in the named segments. */
export async function archivedMetrics(
  bucket: R2Bucket,
  segments: string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const sha of new Set(segments)) {
    for (const r of await readSegment<ResultRow>(bucket, sha)) out.set(r.id, r.metrics_json);
  }
  return out;
}
