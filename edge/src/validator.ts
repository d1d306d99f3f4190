// The validator: after each result, decide whether its experiment is verified. Results agreeing
// within shared/verify.ts's tolerance from two different volunteers verify it, with the median
// val_bpb as the canonical value; a disagreement asks for one more replica, up to five.
import type { Metrics } from '../../shared/protocol.ts';
import { findQuorum, median } from '../../shared/verify.ts';

export const MAX_REPLICAS = 5;

interface ResultRow {
  id: string;
  volunteerId: string;
  metricsJson: string;
}

export async function validateExperiment(db: D1Database, experimentId: string, now: number): Promise<void> {
  const { results: rows } = await db
    .prepare('SELECT id, volunteer_id AS volunteerId, metrics_json AS metricsJson FROM results WHERE experiment_id = ? ORDER BY created_at, id')
    .bind(experimentId)
    .all<ResultRow>();
  const results = rows.map((r) => ({ ...r, ...(JSON.parse(r.metricsJson) as Metrics) }));
  const exp = await db.prepare('SELECT quorum FROM experiments WHERE id = ?').bind(experimentId).first<{ quorum: number }>();
  const quorum = findQuorum(results, exp?.quorum ?? 2);
  if (quorum) {
    const members = new Set(quorum);
    const valBpb = median(quorum.map((i) => results[i]!.valBpb));
    await db.batch([
      db
        .prepare("UPDATE experiments SET status = 'verified', val_bpb = ?, verified_at = ? WHERE id = ? AND status = 'open'")
        .bind(valBpb, now, experimentId),
      ...results.map((r, i) =>
        db.prepare('UPDATE results SET verdict = ? WHERE id = ?').bind(members.has(i) ? 'valid' : 'invalid', r.id),
      ),
    ]);
    return;
  }
  const distinct = new Set(results.map((r) => r.volunteerId)).size;
  if (distinct >= MAX_REPLICAS) {
    await db.prepare("UPDATE experiments SET status = 'disputed' WHERE id = ? AND status = 'open'").bind(experimentId).run();
  } else {
    // Every replica so far disagrees: ask for one more than there are results.
    await db
      .prepare('UPDATE experiments SET replicas_needed = MAX(replicas_needed, ?) WHERE id = ?')
      .bind(Math.min(MAX_REPLICAS, results.length + 1), experimentId)
      .run();
  }
}
