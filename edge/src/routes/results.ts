// Submitting a result: signed by the volunteer, bound to its live lease, the spec hash and the
// dataset hash. Submitting the same lease's result again returns the first outcome (idempotent).
import { Hono } from 'hono';
import { sha256, verifyCanonical } from '../../../shared/crypto.ts';
import {
  ResultRequest,
  type ExperimentStatus,
  type ResultResponse,
} from '../../../shared/protocol.ts';
import { curveLength, ExperimentSpec, tokenBudget } from '../../../shared/spec.ts';
import { signedVolunteer } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { afterResponse, laterOf, notifyCampaign } from '../live.ts';
import { isWriteConflict } from '../ledger.ts';
import { validateExperiment } from '../validator.ts';
import { commitmentIssue } from '../../../shared/commit.ts';
import { checkpointPath } from '../trust/spot-checks.ts';
import { liveSlots } from '../queue/queue-sql.ts';
import { BODY, SIGNED, doc } from '../openapi.ts';

/** The lease's experiment is open and its other live leases leave a replica slot (?1 lease, ?2 now). */
const SLOT_STILL_FREE = `EXISTS (SELECT 1 FROM experiments e WHERE e.id = leases.experiment_id AND e.status = 'open'
  AND ${liveSlots('?2', 'l.id != ?1')} < e.replicas_needed)`;

interface LeaseRow {
  volunteerId: string;
  experimentId: string;
  tokenHash: string;
  deadline: number;
  status: 'open' | 'done';
  specJson: string;
  specHash: string;
  datasetSha256: string;
  experimentStatus: ExperimentStatus;
  resultId: string | null;
}

export const results = new Hono<AppEnv>().post(
  '/',
  doc({
    summary:
      'Submit a result signed over its canonical JSON, bound to the lease token, spec hash and dataset hash. Resubmitting returns the first outcome.',
    auth: 'volunteer',
    body: ResultRequest,
    errors: [
      ...SIGNED,
      ...BODY,
      'unknown_lease',
      'foreign_lease',
      'lease_expired',
      'experiment_settled',
      'spec_mismatch',
      'dataset_mismatch',
      'budget_mismatch',
      'commitment_mismatch',
      'busy',
    ],
  }),
  signedVolunteer,
  async (c) => {
    const { result, signature } = parseBody(c.get('body'), ResultRequest);
    const volunteer = c.get('volunteer');
    const db = c.env.DB;
    if (!(await verifyCanonical(volunteer.publicKey, signature, result))) {
      fail(401, 'bad_signature', 'The result is not signed by the submitting volunteer.');
    }
    const lease = await db
      .prepare(
        `SELECT l.volunteer_id AS volunteerId, l.experiment_id AS experimentId, l.token_hash AS tokenHash,
              l.deadline, l.status, e.spec_json AS specJson, e.spec_hash AS specHash,
              e.dataset_sha256 AS datasetSha256, e.status AS experimentStatus, r.id AS resultId
       FROM leases l JOIN experiments e ON e.id = l.experiment_id
       LEFT JOIN results r ON r.lease_id = l.id
       WHERE l.id = ?`,
      )
      .bind(result.leaseId)
      .first<LeaseRow>();
    if (!lease) fail(404, 'unknown_lease', 'No lease has this id.');
    if (
      lease.volunteerId !== volunteer.id ||
      lease.tokenHash !== (await sha256(result.leaseToken))
    ) {
      fail(403, 'foreign_lease', 'This lease was not issued to this volunteer with this token.');
    }
    if (lease.experimentId !== result.experimentId)
      fail(422, 'spec_mismatch', 'The lease is for another experiment.');
    if (lease.resultId) {
      // A re-delivery (the outbox retries after a lost answer or a 503): finish any verdict the first
      // delivery could not record. Planning reads fresh state, so this is a no-op when nothing is due.
      await validateOrBusy(db, lease.experimentId);
      return c.json<ResultResponse>(await outcome(db, lease.resultId, lease.experimentId, true));
    }
    if (lease.experimentStatus !== 'open') {
      // Settled while this replica trained: the others' metrics are readable now, so this result
      // could be a copy of them (validator.ts expires such leases when it settles).
      fail(
        409,
        'experiment_settled',
        'The experiment was settled by other replicas while this one trained; its result is no longer needed.',
      );
    }
    if (lease.specHash !== result.specHash)
      fail(422, 'spec_mismatch', 'The result was computed for another spec.');
    if (lease.datasetSha256 !== result.datasetSha256) {
      fail(422, 'dataset_mismatch', 'The result was computed on another dataset.');
    }
    const spec = ExperimentSpec.parse(JSON.parse(lease.specJson));
    const m = result.metrics;
    if (
      m.steps !== spec.train.steps ||
      m.tokens !== tokenBudget(spec) ||
      m.curve.length !== curveLength(spec.train)
    ) {
      fail(
        422,
        'budget_mismatch',
        'The result does not cover the experiment’s step and token budget.',
      );
    }
    const commitments = commitmentIssue(spec, m);
    if (commitments) fail(422, 'commitment_mismatch', commitments);
    const resultId = 'r_' + (await sha256(result.leaseId)).slice(0, 24);
    const now = Date.now();
    // The lease closes only if it is still live now, or — expired, after a dropped network or a long
    // sleep — while its experiment is open and nobody holds its replica slot since (a late result is
    // then no different from one in time); the result is stored only on a closed lease.
    const [, stored] = await db.batch([
      db
        .prepare(
          `UPDATE leases SET status = 'done' WHERE id = ?1 AND (status = 'done' OR deadline > ?2 OR (status = 'open' AND ${SLOT_STILL_FREE}))`,
        )
        .bind(result.leaseId, now),
      db
        .prepare(
          `INSERT OR IGNORE INTO results (id, lease_id, experiment_id, volunteer_id, backend, val_bpb,
           metrics_json, payload_json, signature, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE EXISTS (SELECT 1 FROM leases WHERE id = ?2 AND status = 'done')`,
        )
        .bind(
          resultId,
          result.leaseId,
          lease.experimentId,
          volunteer.id,
          m.backend,
          m.valBpb,
          JSON.stringify(m),
          JSON.stringify(result),
          signature,
          now,
        ),
    ]);
    if (
      stored!.meta.changes === 0 &&
      !(await db.prepare('SELECT 1 FROM results WHERE id = ?').bind(resultId).first())
    ) {
      fail(409, 'lease_expired', 'The lease expired before the result arrived.');
    }
    await validateOrBusy(db, lease.experimentId, now);
    await afterResponse(c, notifyCampaign(c.env, lease.experimentId, Date.now(), laterOf(c)));
    return c.json<ResultResponse>(await outcome(db, resultId, lease.experimentId, false), 201);
  },
);

/**
 * Runs the validator; when it keeps losing write races (many verdicts at once contend for the
 * ledger's head), answers 503 `busy` instead of a 500: the result is already stored, and the
 * client's retry re-runs the validation through the duplicate path above.
 */
async function validateOrBusy(
  db: D1Database,
  experimentId: string,
  now = Date.now(),
): Promise<void> {
  try {
    await validateExperiment(db, experimentId, now);
  } catch (e) {
    if (!isWriteConflict(e)) throw e;
    fail(
      503,
      'busy',
      'The result is stored, but its verdict could not be recorded yet: send it again shortly.',
    );
  }
}

async function outcome(
  db: D1Database,
  resultId: string,
  experimentId: string,
  duplicate: boolean,
): Promise<ResultResponse> {
  // A spot check awaiting this result's checkpoint rides on the answer (and on every re-delivery).
  const row = await db
    .prepare(
      `SELECT e.status, s.id AS spotCheckId, s.from_step AS step FROM experiments e
       LEFT JOIN spot_checks s ON s.result_id = ?2 AND s.status = 'awaiting-reveal' WHERE e.id = ?1`,
    )
    .bind(experimentId, resultId)
    .first<{ status: ExperimentStatus; spotCheckId: string | null; step: number | null }>();
  const reveal = row?.spotCheckId
    ? { spotCheckId: row.spotCheckId, step: row.step!, path: checkpointPath(row.spotCheckId) }
    : undefined;
  return {
    resultId,
    duplicate,
    experimentStatus: row?.status ?? 'open',
    ...(reveal && { reveal }),
  };
}
