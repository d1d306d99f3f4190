// Submitting a result: signed by the volunteer, bound to its live lease, the spec hash and the
// dataset hash. Submitting the same lease's result again returns the first outcome (idempotent).
// With the spec beside it, the whole check-and-write is one D1 batch (docs/scale.md).
import { Hono } from 'hono';
import { sha256 } from '../../../shared/crypto.ts';
import {
  ResultRequest,
  type ResultPayload,
  type ResultResponse,
} from '../../../shared/protocol.ts';
import { curveLength, ExperimentSpec, specHash, tokenBudget } from '../../../shared/spec.ts';
import { guardedBatch, signedResult, signedVolunteerGuardedLater } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { afterResponse, laterOf, liveOf, liveStatements, notifyCampaignOf } from '../live.ts';
import { isWriteConflict, type Committed } from '../ledger.ts';
import { planReads, validateExperiment } from '../validator.ts';
import { commitmentIssue } from '../../../shared/commit.ts';
import {
  leaseOf,
  outcomeOf,
  outcomeStatement,
  resultLeaseStatement,
  resultOutcome,
  storeStatements,
} from '../db/results.ts';
import { LEASED, doc } from '../openapi.ts';
import { settleCheckpoint } from '../lineage/checkpoints.ts';
import { sequenceLedger } from '../ledger-sequencer.ts';
import { currentShard, enterShard, shardPrefix } from '../shards.ts';

export const results = new Hono<AppEnv>().post(
  '/',
  doc({
    summary:
      'Submit a result signed over its canonical JSON, bound to the lease token, spec hash and dataset hash. Resubmitting returns the first outcome.',
    auth: 'volunteer',
    body: ResultRequest,
    errors: [
      ...LEASED,
      'experiment_settled',
      'spec_mismatch',
      'dataset_mismatch',
      'budget_mismatch',
      'commitment_mismatch',
      'parent_mismatch',
      'busy',
    ],
  }),
  signedVolunteerGuardedLater,
  async (c) => {
    const { result, signature, spec: sent } = await signedResult(c, ResultRequest, 'result');
    const volunteer = c.get('volunteer');
    const db = enterShard(c, result.leaseId).DB; // the lease's shard holds its campaign whole
    const tokenHash = await sha256(result.leaseToken);
    const resultId =
      shardPrefix('r', currentShard(c.env)) + (await sha256(result.leaseId)).slice(0, 24);
    const now = Date.now();
    const m = result.metrics;
    // A result that brings the spec it trained (bound to it by the signed spec hash) has the spec's
    // checks run before any D1 call, and the lease's become conditions of the write itself: the
    // replay guard, the lease read, the write and the validator's reads are one batch. An older
    // client's result (an outbox kept across a deploy) has its lease read first, then the write.
    if (sent) {
      if ((await specHash(sent)) !== result.specHash)
        fail(422, 'spec_mismatch', 'The spec sent with the result is not the one it signs.');
      specIssue(sent, result);
    }
    // The validator's reads, and the outcome's for when there is nothing to decide, ride in the same
    // batch as the write; the outcome's read rides again at the end of the decision's batch.
    const outcomeRead = () => outcomeStatement(db, resultId, result.experimentId);
    const validatorReads = planReads(db, result.experimentId);
    const store = storeStatements(
      db,
      {
        id: resultId,
        experimentId: result.experimentId,
        volunteerId: volunteer.id,
        payload: result,
        signature,
        now,
      },
      sent && {
        tokenHash,
        specHash: result.specHash,
        datasetSha256: result.datasetSha256,
        hasCommitments: !!m.commitments,
      },
    );
    const writeAndRead = [...store.statements, ...validatorReads, outcomeRead()];
    const first = await guardedBatch(c, [
      resultLeaseStatement(db, result.leaseId),
      ...(sent ? writeAndRead : []),
    ]);
    const lease = leaseOf(first[0]);
    if (!lease) fail(404, 'unknown_lease', 'No lease has this id.');
    if (lease.volunteerId !== volunteer.id || lease.tokenHash !== tokenHash) {
      fail(403, 'foreign_lease', 'This lease was not issued to this volunteer with this token.');
    }
    if (lease.experimentId !== result.experimentId)
      fail(422, 'spec_mismatch', 'The lease is for another experiment.');
    if (lease.resultId) {
      // A re-delivery (the outbox retries after a lost answer or a 503): finish any verdict the first
      // delivery could not record. Planning reads fresh state, so this is a no-op when nothing is due.
      if ((await decide(c.env, lease, Date.now())).entries) await sequenceLedger(c.env);
      const { campaignId: _, ...outcome } = await resultOutcome(
        db,
        lease.resultId,
        lease.experimentId,
        true,
      );
      return c.json<ResultResponse>(outcome);
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
    if (!sent) specIssue(ExperimentSpec.parse(JSON.parse(lease.specJson)), result);
    if (lease.segments > 1 && !m.commitments)
      fail(422, 'commitment_mismatch', 'A lineage’s result commits to its checkpoints.');
    const written = sent ? first.slice(1) : await db.batch(writeAndRead);
    const stored = await store.stored(written);
    const reads = written.slice(store.statements.length);
    if (!stored) fail(409, 'lease_expired', 'The lease expired before the result arrived.');
    // The live update's reads ride at the end of the decision's batch too: a verification's event
    // then needs no read of its own.
    const decided = await decide(c.env, lease, now, reads, [
      outcomeRead(),
      ...liveStatements(db, lease.campaignId, lease.experimentId, now),
    ]);
    // The outcome names the campaign and the status the live update needs; the ledger's sequencer
    // chains the decision's entries meanwhile, so they are in the chain on the answer.
    const [read] = await Promise.all([
      decided.tail?.[0] ?? (decided.settled ? outcomeRead().all() : reads![validatorReads.length]),
      decided.entries ? sequenceLedger(c.env) : undefined,
    ]);
    const { campaignId, ...outcome } = outcomeOf(read, resultId, false);
    if (campaignId) {
      const exp = {
        experimentId: lease.experimentId,
        campaignId,
        status: outcome.experimentStatus,
      };
      const fresh = decided.tail && liveOf(decided.tail.slice(1), now);
      await afterResponse(
        c,
        notifyCampaignOf(c.env, exp, Date.now(), laterOf(c), fresh ?? undefined),
      );
    }
    return c.json<ResultResponse>(outcome, 201);
  },
);

/** Refuses a result that does not cover its spec: steps, tokens, curve, parent, commitments. */
function specIssue(spec: ExperimentSpec, result: ResultPayload): void {
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
  if (result.parentCheckpointSha256 !== spec.parent?.checkpointSha256)
    fail(
      422,
      'parent_mismatch',
      spec.parent
        ? `The experiment continues from checkpoint ${spec.parent.checkpointSha256}.`
        : 'The experiment has no parent: it trains from its seed.',
    );
  const commitments = commitmentIssue(spec, m);
  if (commitments) fail(422, 'commitment_mismatch', commitments);
}

/**
 * Runs the validator (with `tail`, reads at the end of its batch: ledger.ts commitPlanned), then
 * settles a lineage's checkpoint, which may change what the tail read (`settled`: read it again).
 * When the validator keeps losing write races (decisions on the same experiment at once), answers
 * 503 `busy` instead of a 500: the result is already stored, and the client's retry re-runs the
 * validation through the duplicate path above.
 */
async function decide(
  env: Env,
  lease: { experimentId: string; segments: number },
  now: number,
  reads?: D1Result[],
  tail: D1PreparedStatement[] = [],
): Promise<Committed & { settled: boolean }> {
  let committed: Committed;
  try {
    committed = await validateExperiment(env.DB, lease.experimentId, now, reads, tail);
  } catch (e) {
    if (!isWriteConflict(e)) throw e;
    fail(
      503,
      'busy',
      'The result is stored, but its verdict could not be recorded yet: send it again shortly.',
    );
  }
  if (lease.segments < 2) return { ...committed, settled: false };
  const settled = await settleCheckpoint(env.DB, env.CHECKPOINTS, lease.experimentId, now);
  return { entries: committed.entries + settled, tail: null, settled: true };
}
