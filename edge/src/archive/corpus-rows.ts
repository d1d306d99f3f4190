// The corpus's view of archived results: the full metrics of each result, read back from the
// segments its D1 summaries name. A segment holds 500 experiments of one campaign in the corpus's
// own (verified_at, id) order, so a page of one campaign reads one or two; a page that mixes many
// archived campaigns stops at MAX_SEGMENTS_PER_PAGE and the next page goes on from there.
import type { ResultRow } from './campaigns.ts';
import { readSegment } from './store.ts';

/** Segments one corpus page may read: far under a request's subrequest limit (50 on Workers Free). */
export const MAX_SEGMENTS_PER_PAGE = 6;

/**
 * How many of `page` (in order) can be served reading at most MAX_SEGMENTS_PER_PAGE segments;
 * at least one, whose segments are few (a single experiment's replicas sit in one chunk).
 */
export function segmentBound(
  page: { id: string }[],
  results: { experimentId: string; segment: string | null }[],
): number {
  const byExperiment = new Map<string, string[]>();
  for (const r of results)
    if (r.segment)
      byExperiment.set(r.experimentId, [...(byExperiment.get(r.experimentId) ?? []), r.segment]);
  const seen = new Set<string>();
  for (const [i, e] of page.entries()) {
    for (const sha of byExperiment.get(e.id) ?? []) seen.add(sha);
    if (seen.size > MAX_SEGMENTS_PER_PAGE) return Math.max(1, i);
  }
  return page.length;
}

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
