// Result rows: the lease a result claims (with its experiment), storing a result on the lease it
// closes, and what the submitter is told afterwards (the experiment's status, a reveal a spot check
// asks for).
import {
  finalCheckpointPath,
  type ExperimentStatus,
  type ResultPayload,
  type ResultResponse,
} from '../../../shared/protocol.ts';
import { awaitFinalCheckpoint } from '../lineage/checkpoints.ts';
import { liveSlots } from '../queue/queue-sql.ts';
import { checkpointPath } from '../trust/spot-checks.ts';

export interface ResultLease {
  volunteerId: string;
  experimentId: string;
  tokenHash: string;
  deadline: number;
  status: 'open' | 'done';
  specJson: string;
  specHash: string;
  datasetSha256: string;
  experimentStatus: ExperimentStatus;
  resultId: string | null; // a result already stored on this lease
  segments: number; // the campaign's: a lineage campaign (> 1) keeps final checkpoints
  campaignId: string;
}

/** The lease a result names, with its experiment's spec: read it with `leaseOf`. */
export function resultLeaseStatement(db: D1Database, leaseId: string): D1PreparedStatement {
  return db
    .prepare(
      `SELECT l.volunteer_id AS volunteerId, l.experiment_id AS experimentId, l.token_hash AS tokenHash,
              l.deadline, l.status, e.spec_json AS specJson, e.spec_hash AS specHash,
              e.dataset_sha256 AS datasetSha256, e.status AS experimentStatus, r.id AS resultId, c.segments,
              c.id AS campaignId
       FROM leases l JOIN experiments e ON e.id = l.experiment_id JOIN campaigns c ON c.id = e.campaign_id
       LEFT JOIN results r ON r.lease_id = l.id
       WHERE l.id = ?`,
    )
    .bind(leaseId);
}

export const leaseOf = (r: D1Result | undefined): ResultLease | null =>
  ((r?.results ?? [])[0] as ResultLease | undefined) ?? null;

/** The lease's experiment is open and its other live leases leave a replica slot (?1 lease, ?2 now). */
const SLOT_STILL_FREE = `EXISTS (SELECT 1 FROM experiments e WHERE e.id = leases.experiment_id AND e.status = 'open'
  AND ${liveSlots('?2', 'l.id != ?1')} < e.replicas_needed)`;

/** What a result's write is bound to when its lease was not read first (results.ts: one batch). */
export interface LeaseBinding {
  tokenHash: string;
  specHash: string;
  datasetSha256: string;
  hasCommitments: boolean;
}

/**
 * The statements that close the lease and store the result on it, in one batch (with the final
 * checkpoint a lineage campaign will ask for: its last commitment); `stored` tells from their
 * results whether the result is on the lease (one more read only when another delivery stored it).
 * The lease closes only if it is still live now, or — expired, after a dropped network or a long
 * sleep — while its experiment is open and nobody holds its replica slot since (a late result is
 * then no different from one in time); the result is stored only on a closed lease.
 *
 * With `binding`, the statements also check in SQL what the route would otherwise check on the
 * lease it read first — the lease is this volunteer's, with this token and experiment; the
 * experiment is open, with this spec and dataset; a lineage's result commits — so that they can run
 * in the same batch as that read and write nothing for a request the route then refuses.
 */
export function storeStatements(
  db: D1Database,
  r: {
    id: string;
    experimentId: string;
    volunteerId: string;
    payload: ResultPayload;
    signature: string;
    now: number;
  },
  binding?: LeaseBinding,
): { statements: D1PreparedStatement[]; stored: (written: D1Result[]) => Promise<boolean> } {
  const m = r.payload.metrics;
  const final = m.commitments?.at(-1);
  // ?3 volunteer, ?4 token hash, ?5 experiment, ?6 spec hash, ?7 dataset, ?8 commits (0/1)
  const bound = binding
    ? `AND volunteer_id = ?3 AND token_hash = ?4 AND experiment_id = ?5 AND EXISTS (SELECT 1 FROM experiments e
         JOIN campaigns c ON c.id = e.campaign_id WHERE e.id = ?5 AND e.status = 'open' AND e.spec_hash = ?6
         AND e.dataset_sha256 = ?7 AND (c.segments = 1 OR ?8))`
    : '';
  const bindings = binding
    ? [
        r.volunteerId,
        binding.tokenHash,
        r.experimentId,
        binding.specHash,
        binding.datasetSha256,
        binding.hasCommitments ? 1 : 0,
      ]
    : [];
  const statements = [
    db
      .prepare(
        // Bound, the batch read the lease before this: a lease already done is a re-delivery,
        // which the route answers without writing (an UPDATE that changes nothing still fires
        // the triggers of the queues' change feed and the progress counts).
        binding
          ? `UPDATE leases SET status = 'done' WHERE id = ?1 AND status = 'open' AND (deadline > ?2 OR ${SLOT_STILL_FREE}) ${bound}`
          : `UPDATE leases SET status = 'done' WHERE id = ?1 AND (status = 'done' OR deadline > ?2 OR (status = 'open' AND ${SLOT_STILL_FREE}))`,
      )
      .bind(r.payload.leaseId, r.now, ...bindings),
    db
      .prepare(
        `INSERT OR IGNORE INTO results (id, lease_id, experiment_id, volunteer_id, backend, val_bpb,
           metrics_json, payload_json, signature, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE EXISTS (SELECT 1 FROM leases WHERE id = ?2 AND status = 'done'
           ${binding ? 'AND volunteer_id = ?4 AND token_hash = ?11 AND experiment_id = ?3' : ''})`,
      )
      .bind(
        r.id,
        r.payload.leaseId,
        r.experimentId,
        r.volunteerId,
        m.backend,
        m.valBpb,
        JSON.stringify(m),
        JSON.stringify(r.payload),
        r.signature,
        r.now,
        ...(binding ? [binding.tokenHash] : []),
      ),
    ...(final ? [awaitFinalCheckpoint(db, r.id, r.experimentId, final, r.now)] : []),
  ];
  return {
    statements,
    stored: async (written) =>
      written[1]!.meta.changes > 0 ||
      (await db.prepare('SELECT 1 FROM results WHERE id = ?').bind(r.id).first()) !== null,
  };
}

/** What the submitter is told: the experiment's status, and a reveal a spot check awaits (on every re-delivery too). */
/** The answer to a result, and the experiment's campaign (for the live update). */
export async function resultOutcome(
  db: D1Database,
  resultId: string,
  experimentId: string,
  duplicate: boolean,
): Promise<ResultResponse & { campaignId: string | null }> {
  return outcomeOf(await outcomeStatement(db, resultId, experimentId).all(), resultId, duplicate);
}

/** resultOutcome's read, to ride at the end of a batch that writes the outcome; outcomeOf reads it. */
export function outcomeStatement(
  db: D1Database,
  resultId: string,
  experimentId: string,
): D1PreparedStatement {
  return db
    .prepare(
      `SELECT e.status, e.campaign_id AS campaignId, s.id AS spotCheckId, s.from_step AS step,
         json_extract(e.spec_json, '$.parent.step') AS start, json_extract(e.spec_json, '$.train.steps') AS steps,
         EXISTS (SELECT 1 FROM final_checkpoints f WHERE f.result_id = ?2 AND f.status = 'awaiting') AS awaited
       FROM experiments e
       LEFT JOIN spot_checks s ON s.result_id = ?2 AND s.status = 'awaiting-reveal' WHERE e.id = ?1`,
    )
    .bind(experimentId, resultId);
}

export function outcomeOf(
  read: D1Result | undefined,
  resultId: string,
  duplicate: boolean,
): ResultResponse & { campaignId: string | null } {
  const row = (read?.results ?? [])[0] as
    | {
        status: ExperimentStatus;
        campaignId: string;
        spotCheckId: string | null;
        step: number | null;
        start: number | null;
        steps: number;
        awaited: number;
      }
    | undefined;
  const reveal = row?.spotCheckId
    ? { spotCheckId: row.spotCheckId, step: row.step!, path: checkpointPath(row.spotCheckId) }
    : undefined;
  const checkpoint = row?.awaited
    ? { step: (row.start ?? 0) + row.steps, path: finalCheckpointPath(resultId) }
    : undefined;
  return {
    campaignId: row?.campaignId ?? null,
    resultId,
    duplicate,
    experimentStatus: row?.status ?? 'open',
    ...(reveal && { reveal }),
    ...(checkpoint && { checkpoint }),
  };
}
