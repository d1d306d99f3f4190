// Spot checks of trusted-single results (validator.ts draws them). From the seed, or from one of
// the result's committed checkpoints, which its volunteer must first reveal: the blob must hash to
// the commitment and its losses must give the result's curve up to there. The checker then trains
// [from_step, to_step) and its segment means must match the result's within TAU_SPOT. A mismatch
// does not convict the target (the checker may be the liar): it reopens the experiment for a
// quorum, and so does a checkpoint left unrevealed past its window.
import { sha256 } from '../../../shared/crypto.ts';
import { CheckpointError, decodeCheckpoint, spotCheckAgrees } from '../../../shared/commit.ts';
import type { Lease, Metrics, SpotCheckPayload } from '../../../shared/protocol.ts';
import { ExperimentSpec } from '../../../shared/spec.ts';
import type { ClaimRequest, ClaimTerms } from '../queue/claim-terms.ts';
import { fail } from '../errors.ts';
import { reopenExperiment } from './audit.ts';

interface SpotRow {
  id: string;
  experimentId: string;
  volunteerId: string | null;
  tokenHash: string | null;
  deadline: number | null;
  status: 'awaiting-reveal' | 'open' | 'leased' | 'passed' | 'failed' | 'unrevealed';
  expectedJson: string;
  specHash: string;
}

export async function submitSpotCheck(
  db: D1Database,
  volunteerId: string,
  p: SpotCheckPayload,
  now: number,
): Promise<{ duplicate: boolean; passed: boolean }> {
  const s = await db
    .prepare(
      `SELECT s.id, s.experiment_id AS experimentId, s.volunteer_id AS volunteerId, s.token_hash AS tokenHash, s.deadline,
         s.status, s.expected_json AS expectedJson, e.spec_hash AS specHash
       FROM spot_checks s JOIN experiments e ON e.id = s.experiment_id WHERE s.id = ?`,
    )
    .bind(p.leaseId)
    .first<SpotRow>();
  if (!s) fail(404, 'unknown_lease', 'No spot-check lease has this id.');
  if (s.volunteerId !== volunteerId || s.tokenHash !== (await sha256(p.leaseToken))) {
    fail(403, 'foreign_lease', 'This spot check was not leased to this volunteer with this token.');
  }
  if (s.status === 'passed' || s.status === 'failed')
    return { duplicate: true, passed: s.status === 'passed' };
  if ((s.deadline ?? 0) <= now)
    fail(409, 'lease_expired', 'The spot-check lease expired before its result arrived.');
  if (s.specHash !== p.specHash)
    fail(422, 'spec_mismatch', 'The spot check was computed for another spec.');
  const expected = JSON.parse(s.expectedJson) as number[];
  if (s.status === 'awaiting-reveal' || s.status === 'unrevealed')
    fail(409, 'lease_expired', 'This spot check is not leased.');
  if (p.curve.length !== expected.length)
    fail(422, 'budget_mismatch', `The spot check covers ${expected.length} loss-curve segments.`);
  const passed = spotCheckAgrees(expected, p.curve);
  await db.batch([
    db
      .prepare(
        "UPDATE spot_checks SET status = ?, observed_json = ?, decided_at = ? WHERE id = ? AND status = 'leased'",
      )
      .bind(passed ? 'passed' : 'failed', JSON.stringify(p.curve), now, s.id),
    ...(passed ? [] : [reopenExperiment(db, s.experimentId, now)]),
  ]);
  return { duplicate: false, passed };
}

export const SPOT_CHECK_PATH = '/api/results/spot-checks';

interface SpecRow {
  campaignId: string;
  specJson: string;
  specHash: string;
}

/** Open spot checks (or ones whose lease expired) this volunteer may take. ?1 volunteer, ?2 now … */
const SPOT_CLAIM_SQL = `
UPDATE spot_checks SET status = 'leased', volunteer_id = ?1, token_hash = ?3, deadline = ?4
WHERE NOT EXISTS (SELECT 1 FROM spot_checks h WHERE h.volunteer_id = ?1 AND h.status = 'leased' AND h.deadline > ?2) -- one at a time
  AND id = (
  SELECT s.id FROM spot_checks s
    JOIN results r ON r.id = s.result_id JOIN leases l ON l.id = r.lease_id JOIN volunteers tv ON tv.id = r.volunteer_id
    JOIN experiments e ON e.id = s.experiment_id
  WHERE (s.status = 'open' OR (s.status = 'leased' AND s.deadline <= ?2))
    AND s.precision = ?5 AND r.volunteer_id != ?1
    AND NOT COALESCE(l.ip_hash IN (?6, ?7) OR tv.ip_hash IN (?6, ?7), 0)
    -- independent of the checked volunteer: never its witness, nor at a witness's address
    AND NOT EXISTS (SELECT 1 FROM witnesses w WHERE w.volunteer_id = r.volunteer_id AND (w.witness_id = ?1 OR w.witness_ip IN (?6, ?7)))
    AND (?8 IS NULL OR e.campaign_id = ?8)
  ORDER BY s.created_at LIMIT 1)
RETURNING id, experiment_id AS experimentId, from_step AS fromStep, to_step AS toStep, deadline, commitment`;

/** A pending spot check for a client that declared spotChecks, leased for one window (`windowMs`). */
export async function claimSpotCheck(
  db: D1Database,
  req: ClaimRequest,
  terms: ClaimTerms,
  tokenHash: string,
  windowMs: number,
): Promise<Omit<Lease, 'leaseToken'> | null> {
  // A spot check trains one segment; its deadline is sized like a lease for the whole spec would
  // be, which is generous and keeps one rule.
  const claimed = await db
    .prepare(SPOT_CLAIM_SQL)
    .bind(
      req.volunteerId,
      req.now,
      tokenHash,
      req.now + windowMs,
      terms.precision,
      terms.leaseIp,
      terms.registrationIp,
      req.campaignId ?? null,
    )
    .first<{
      id: string;
      experimentId: string;
      fromStep: number;
      toStep: number;
      deadline: number;
      commitment: string | null;
    }>();
  if (!claimed) return null;
  const row = await db
    .prepare(
      'SELECT campaign_id AS campaignId, spec_json AS specJson, spec_hash AS specHash FROM experiments WHERE id = ?',
    )
    .bind(claimed.experimentId)
    .first<SpecRow>();
  if (!row) throw new Error(`experiment ${claimed.experimentId} vanished after a spot-check claim`);
  return {
    leaseId: claimed.id,
    deadline: claimed.deadline,
    campaignId: row.campaignId,
    experimentId: claimed.experimentId,
    specHash: row.specHash,
    spec: ExperimentSpec.parse(JSON.parse(row.specJson)),
    kind: 'spot-check',
    spotCheck: {
      fromStep: claimed.fromStep,
      toStep: claimed.toStep,
      submitPath: SPOT_CHECK_PATH,
      ...(claimed.commitment !== null && { checkpointPath: checkpointPath(claimed.id) }), // revealed (trust/spot-checks.ts)
    },
  };
}

/** Where a checked result's volunteer uploads, and a checker downloads, the revealed checkpoint. */
export const checkpointPath = (spotCheckId: string) =>
  `/api/results/spot-checks/${spotCheckId}/checkpoint`;
/** Where R2 keeps a checkpoint: by its commitment (shared/commit.ts), spot checks' and lineages' alike. */
export const blobKey = (commitment: string) => `checkpoints/${commitment}`;

interface RevealRow {
  volunteerId: string;
  status: SpotRow['status'];
  fromStep: number;
  commitment: string | null;
  revealDeadline: number | null;
  experimentId: string;
  specHash: string;
  curveEvery: number;
  parentStep: number | null;
  metricsJson: string;
}

/**
 * A revealed checkpoint, uploaded by the checked result's own volunteer (authenticated, and looked
 * up here, before `read` takes a byte of the body): checked against the commitment, then stored in
 * R2 and the spot check opened for a checker. Losses that do not give the result's own curve up to
 * there prove the result is not this run's: the check fails at once.
 */
export async function revealCheckpoint(
  db: D1Database,
  bucket: R2Bucket,
  spotCheckId: string,
  volunteerId: string,
  read: () => Promise<Uint8Array>,
  now: number,
): Promise<{ opened: boolean }> {
  const s = await db
    .prepare(
      `SELECT r.volunteer_id AS volunteerId, s.status, s.from_step AS fromStep, s.commitment, s.reveal_deadline AS revealDeadline, s.experiment_id AS experimentId,
         e.spec_hash AS specHash, json_extract(e.spec_json, '$.train.curveEvery') AS curveEvery,
         json_extract(e.spec_json, '$.parent.step') AS parentStep, r.metrics_json AS metricsJson
       FROM spot_checks s JOIN experiments e ON e.id = s.experiment_id JOIN results r ON r.id = s.result_id WHERE s.id = ?`,
    )
    .bind(spotCheckId)
    .first<RevealRow>();
  if (!s || !s.commitment)
    fail(404, 'unknown_spot_check', 'No spot check awaits a checkpoint with this id.');
  if (s.volunteerId !== volunteerId)
    fail(403, 'foreign_spot_check', "Only the checked result's volunteer reveals its checkpoint.");
  if (s.status !== 'awaiting-reveal') return { opened: false }; // revealed already (or too late): nothing to do
  if ((s.revealDeadline ?? 0) <= now)
    fail(409, 'reveal_expired', 'The checkpoint was asked for earlier and is no longer awaited.');
  const bytes = await read();
  let header;
  try {
    ({ header } = await decodeCheckpoint(bytes, s.commitment));
  } catch (e) {
    if (e instanceof CheckpointError) fail(422, 'commitment_mismatch', e.message);
    throw e;
  }
  if (header.step !== s.fromStep || header.specHash !== s.specHash)
    fail(422, 'commitment_mismatch', 'The checkpoint is of another step or spec.');
  const curve = (JSON.parse(s.metricsJson) as Metrics).curve;
  const start = s.parentStep ?? 0; // a continuation's curve starts at its parent's step
  const own = header.losses.slice(start);
  const consistent = curve.slice(0, (s.fromStep - start) / s.curveEvery).every((c, i) => {
    const seg = own.slice(i * s.curveEvery, (i + 1) * s.curveEvery);
    return (
      Math.abs(seg.reduce((a, b) => a + b, 0) / seg.length - c) <= 1e-9 * Math.max(1, Math.abs(c))
    );
  });
  if (!consistent) {
    await db.batch([
      db
        .prepare(
          "UPDATE spot_checks SET status = 'failed', decided_at = ? WHERE id = ? AND status = 'awaiting-reveal'",
        )
        .bind(now, spotCheckId),
      reopenExperiment(db, s.experimentId, now),
    ]);
    return { opened: false };
  }
  await bucket.put(blobKey(s.commitment), bytes);
  await db
    .prepare("UPDATE spot_checks SET status = 'open' WHERE id = ? AND status = 'awaiting-reveal'")
    .bind(spotCheckId)
    .run();
  return { opened: true };
}

/** The revealed checkpoint, for the volunteer the spot check is leased to (by its lease token). */
export async function leasedCheckpoint(
  db: D1Database,
  bucket: R2Bucket,
  spotCheckId: string,
  leaseToken: string,
  now: number,
): Promise<R2ObjectBody> {
  const s = await db
    .prepare(
      'SELECT status, token_hash AS tokenHash, deadline, commitment FROM spot_checks WHERE id = ?',
    )
    .bind(spotCheckId)
    .first<{
      status: SpotRow['status'];
      tokenHash: string | null;
      deadline: number | null;
      commitment: string | null;
    }>();
  if (!s || !s.commitment)
    fail(404, 'unknown_spot_check', 'No spot check from a checkpoint has this id.');
  if (s.tokenHash !== (await sha256(leaseToken)))
    fail(403, 'foreign_lease', 'This spot check is not leased with this token.');
  if (s.status !== 'leased' || (s.deadline ?? 0) <= now)
    fail(409, 'lease_expired', 'The spot-check lease is closed or expired.');
  const blob = await bucket.get(blobKey(s.commitment));
  if (!blob) throw new Error(`the revealed checkpoint of ${spotCheckId} is missing from R2`);
  return blob;
}

/** Spot checks whose checkpoint was not revealed in time: failed as unrevealed, experiments reopened. */
export async function expireReveals(db: D1Database, now: number): Promise<number> {
  const { results } = await db
    .prepare(
      "SELECT id, experiment_id AS experimentId FROM spot_checks WHERE status = 'awaiting-reveal' AND reveal_deadline <= ?",
    )
    .bind(now)
    .all<{ id: string; experimentId: string }>();
  if (!results.length) return 0;
  await db.batch(
    results.flatMap((s) => [
      db
        .prepare(
          "UPDATE spot_checks SET status = 'unrevealed', decided_at = ? WHERE id = ? AND status = 'awaiting-reveal'",
        )
        .bind(now, s.id),
      reopenExperiment(db, s.experimentId, now),
    ]),
  );
  return results.length;
}
