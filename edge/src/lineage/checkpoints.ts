// Lineage checkpoints (docs/lineage.md). Every result of a lineage campaign commits to its final
// checkpoint, and its volunteer uploads that checkpoint right after the result (checked against
// the commitment, its losses against the result's curve and, for a continuation, against the
// parent's). Once the experiment is verified, one agreeing replica's checkpoint becomes canonical —
// chosen deterministically: the replica whose val_bpb is nearest the verified (median) val_bpb,
// ties by result id; one that has not uploaded within FINAL_REVEAL_MS is passed over for the next,
// and when none is left the experiment is reopened for one more replica, so a lineage never stalls
// on a closed tab. The choice is written to the ledger, the next segment is created (or a
// strategy decides what continues: strategies.ts), and the storage rule drops what no future
// child can need.
import {
  CheckpointError,
  decodeCheckpoint,
  type CheckpointHeader,
} from '../../../shared/commit.ts';
import { sha256 } from '../../../shared/crypto.ts';
import { Strategy } from '../../../shared/asha.ts';
import { continuationSpec } from '../../../shared/lineage.ts';
import type { Metrics } from '../../../shared/protocol.ts';
import { endStep, ExperimentSpec, startStep } from '../../../shared/spec.ts';
import { fail } from '../errors.ts';
import { commitPlanned, type NewEntry } from '../ledger.ts';
import { reopenExperiment } from '../trust/audit.ts';
import { FINAL_REVEAL_MS } from '../trust/policy.ts';
import { blobKey } from '../trust/spot-checks.ts';
import { childStatement, segmentId } from './children.ts';
import { ashaStatements, pbtStatements } from './strategies.ts';

/**
 * Stored in the result's batch: the final checkpoint a lineage campaign's result will upload (its
 * last commitment). Nothing for other campaigns, or when the result was not stored.
 */
export function awaitFinalCheckpoint(
  db: D1Database,
  resultId: string,
  experimentId: string,
  commitment: string,
  now: number,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO final_checkpoints (result_id, experiment_id, commitment, reveal_deadline)
       SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM results WHERE id = ?1)
         AND EXISTS (SELECT 1 FROM experiments e JOIN campaigns c ON c.id = e.campaign_id WHERE e.id = ?2 AND c.segments > 1)`,
    )
    .bind(resultId, experimentId, commitment, now + FINAL_REVEAL_MS);
}

/** The final checkpoint this result is asked to upload, if it still is. */
export function awaitedCheckpoint(
  db: D1Database,
  resultId: string,
): Promise<{ commitment: string } | null> {
  return db
    .prepare("SELECT commitment FROM final_checkpoints WHERE result_id = ? AND status = 'awaiting'")
    .bind(resultId)
    .first<{ commitment: string }>();
}

/** A checkpoint's header from R2 alone (two ranged reads), checked against its hash; null if absent. */
export async function storedHeader(
  bucket: R2Bucket,
  commitment: string,
): Promise<CheckpointHeader | null> {
  const head = await bucket.get(blobKey(commitment), { range: { offset: 0, length: 8 } });
  if (!head) return null;
  const length = new DataView(await head.arrayBuffer()).getUint32(4, true);
  const body = await bucket.get(blobKey(commitment), { range: { offset: 8, length } });
  if (!body) return null;
  const bytes = new Uint8Array(await body.arrayBuffer());
  if ((await sha256(bytes)) !== commitment)
    throw new Error(`the stored checkpoint ${commitment} does not match its hash`);
  return JSON.parse(new TextDecoder().decode(bytes)) as CheckpointHeader;
}

/** Segment means of `losses` every `every` steps, as the loop's curve (shared/train/loop.ts). */
function segmentMeans(losses: number[], every: number): number[] {
  return Array.from({ length: Math.ceil(losses.length / every) }, (_, i) => {
    const seg = losses.slice(i * every, (i + 1) * every);
    return seg.reduce((a, b) => a + b, 0) / seg.length;
  });
}

interface RevealRow {
  experimentId: string;
  volunteerId: string;
  status: 'awaiting' | 'revealed' | 'unrevealed' | 'dropped';
  commitment: string;
  metricsJson: string;
  specJson: string;
  specHash: string;
}

/**
 * The result's volunteer uploads its final checkpoint (authenticated, and looked up before `read`
 * takes a byte). Checked against the commitment, the spec and step, the result's own curve and —
 * for a continuation — the parent checkpoint's losses; one that fails shows the result is not a
 * continuation of that run: the upload is refused, the result's checkpoint counts as never revealed
 * and a trusted-single verdict on it is reopened for a quorum.
 */
export async function revealFinalCheckpoint(
  db: D1Database,
  bucket: R2Bucket,
  resultId: string,
  volunteerId: string,
  read: () => Promise<Uint8Array>,
  now: number,
): Promise<{ stored: boolean }> {
  const row = await db
    .prepare(
      `SELECT f.experiment_id AS experimentId, r.volunteer_id AS volunteerId, f.status, f.commitment,
         r.metrics_json AS metricsJson, e.spec_json AS specJson, e.spec_hash AS specHash
       FROM final_checkpoints f JOIN results r ON r.id = f.result_id JOIN experiments e ON e.id = f.experiment_id
       WHERE f.result_id = ?`,
    )
    .bind(resultId)
    .first<RevealRow>();
  if (!row) fail(404, 'unknown_checkpoint', 'No final checkpoint of this result is awaited.');
  if (row.volunteerId !== volunteerId)
    fail(403, 'foreign_result', "Only the result's own volunteer uploads its checkpoint.");
  if (row.status === 'unrevealed')
    fail(409, 'reveal_expired', 'This checkpoint was passed over and is no longer awaited.');
  if (row.status !== 'awaiting') return { stored: false }; // uploaded already
  const bytes = await read();
  let header: CheckpointHeader;
  try {
    ({ header } = await decodeCheckpoint(bytes, row.commitment));
  } catch (e) {
    if (e instanceof CheckpointError) fail(422, 'commitment_mismatch', e.message);
    throw e;
  }
  const spec = ExperimentSpec.parse(JSON.parse(row.specJson));
  // Bytes that match the commitment but are of another step or spec prove the result is not this
  // run's, as do losses that do not give its curve or do not continue the parent's.
  const ownStep = header.step === endStep(spec) && header.specHash === row.specHash;
  const curve = (JSON.parse(row.metricsJson) as Metrics).curve;
  const own = segmentMeans(header.losses.slice(startStep(spec)), spec.train.curveEvery);
  const consistent =
    own.length === curve.length &&
    own.every((x, i) => Math.abs(x - curve[i]!) <= 1e-9 * Math.max(1, Math.abs(curve[i]!)));
  const parent = spec.parent ? await storedHeader(bucket, spec.parent.checkpointSha256) : null;
  const fromParent =
    !parent ||
    (parent.losses.length === startStep(spec) &&
      parent.losses.every((x, i) => x === header.losses[i]));
  if (!ownStep || !consistent || !fromParent) {
    await db.batch([
      db
        .prepare(
          "UPDATE final_checkpoints SET status = 'unrevealed' WHERE result_id = ? AND status = 'awaiting'",
        )
        .bind(resultId),
      reopenExperiment(db, row.experimentId, now),
    ]);
    if (!ownStep) fail(422, 'commitment_mismatch', 'The checkpoint is of another step or spec.');
    if (!fromParent)
      fail(422, 'parent_mismatch', 'The checkpoint does not continue from the parent checkpoint.');
    fail(422, 'commitment_mismatch', 'The checkpoint’s losses do not give the result’s curve.');
  }
  await bucket.put(blobKey(row.commitment), bytes);
  await db
    .prepare(
      "UPDATE final_checkpoints SET status = 'revealed', revealed_at = ? WHERE result_id = ? AND status = 'awaiting'",
    )
    .bind(now, resultId)
    .run();
  await settleCheckpoint(db, bucket, row.experimentId, now);
  return { stored: true };
}

interface SettleRow {
  status: string;
  valBpb: number | null;
  checkpointSha256: string | null;
  specJson: string;
  depth: number;
  rootId: string;
  segments: number;
  campaignId: string;
  strategyJson: string | null;
}

interface Candidate {
  resultId: string;
  volunteerId: string;
  status: RevealRow['status'];
  revealDeadline: number;
  commitment: string;
}

/**
 * Chooses the canonical final checkpoint of a verified lineage experiment, once the preferred
 * replica's upload is in (or it was passed over), records it in the ledger with the next segment,
 * then deletes the other replicas' uploads and applies the storage rule. Idempotent: call it after
 * a verdict, an upload, or when reveal windows close.
 */
export async function settleCheckpoint(
  db: D1Database,
  bucket: R2Bucket,
  experimentId: string,
  now: number,
): Promise<number> {
  let rootId: string | null = null;
  const { entries } = await commitPlanned(
    db,
    async () => {
      const [head, cands] = await db.batch([
        db
          .prepare(
            `SELECT e.status, e.val_bpb AS valBpb, e.checkpoint_sha256 AS checkpointSha256, e.spec_json AS specJson,
               e.depth, COALESCE(e.root_id, e.id) AS rootId, c.segments, c.id AS campaignId, c.strategy_json AS strategyJson
             FROM experiments e JOIN campaigns c ON c.id = e.campaign_id WHERE e.id = ?`,
          )
          .bind(experimentId),
        db
          .prepare(
            `SELECT r.id AS resultId, r.volunteer_id AS volunteerId, f.status, f.reveal_deadline AS revealDeadline, f.commitment
             FROM results r JOIN final_checkpoints f ON f.result_id = r.id JOIN experiments e ON e.id = r.experiment_id
             WHERE r.experiment_id = ? AND r.verdict = 'valid'
             ORDER BY ABS(r.val_bpb - e.val_bpb), r.id`,
          )
          .bind(experimentId),
      ]);
      const e = head!.results[0] as SettleRow | undefined;
      if (!e || e.status !== 'verified' || e.checkpointSha256 || e.segments < 2) return null;
      rootId = e.rootId;
      const candidates = cands!.results as Candidate[];
      let chosen: Candidate | undefined;
      for (const c of candidates) {
        if (c.status === 'revealed') {
          chosen = c;
          break;
        }
        if (c.status === 'awaiting' && c.revealDeadline > now) return null; // the preferred one may still come
      }
      if (!chosen) {
        // Every agreeing replica's checkpoint was passed over: one more replica, whose result will
        // bring its own (the experiment's metrics are published, so the audit rules apply).
        return {
          statements: [
            db
              .prepare(
                `UPDATE experiments SET status = 'open', audit = 1, verification = NULL, reissued_at = ?1,
                   replicas_needed = (SELECT COUNT(*) FROM results WHERE experiment_id = ?2) + 1, trust_version = trust_version + 1
                 WHERE id = ?2 AND status = 'verified' AND checkpoint_sha256 IS NULL`,
              )
              .bind(now, experimentId),
          ],
          entries: [],
        };
      }
      const spec = ExperimentSpec.parse(JSON.parse(e.specJson));
      const statements = [
        db
          .prepare(
            'UPDATE experiments SET checkpoint_sha256 = ?, checkpoint_result_id = ? WHERE id = ? AND checkpoint_sha256 IS NULL',
          )
          .bind(chosen.commitment, chosen.resultId, experimentId),
        db
          .prepare(
            "UPDATE final_checkpoints SET status = 'dropped' WHERE experiment_id = ? AND result_id != ? AND status IN ('revealed', 'awaiting')",
          )
          .bind(experimentId, chosen.resultId),
      ];
      const entries: NewEntry[] = [
        {
          key: `checkpoint:${experimentId}`,
          kind: 'checkpoint',
          experimentId,
          resultId: chosen.resultId,
          volunteerId: chosen.volunteerId,
          checkpointSha256: chosen.commitment,
        },
      ];
      const strategy = e.strategyJson ? Strategy.parse(JSON.parse(e.strategyJson)) : null;
      const settled = { id: experimentId, checkpointSha256: chosen.commitment };
      if (strategy?.kind === 'asha' || strategy?.kind === 'pbt') {
        const decided =
          strategy.kind === 'asha'
            ? await ashaStatements(db, e.campaignId, strategy, settled)
            : await pbtStatements(db, e.campaignId, strategy, settled, e.depth);
        statements.push(...decided.statements);
        entries.push(...decided.entries);
      } else if (e.depth + 1 < e.segments) {
        const child = continuationSpec(spec, experimentId, chosen.commitment);
        statements.push(
          await childStatement(db, experimentId, segmentId(e.rootId, e.depth + 1), child),
        );
      }
      return { statements, entries };
    },
    now,
  );
  if (rootId) await pruneLineage(db, bucket, rootId, now);
  return entries;
}

/** Closes the reveal windows that passed, and settles the experiments that waited on them (the cron). */
export async function expireFinalReveals(
  db: D1Database,
  bucket: R2Bucket,
  now: number,
): Promise<number> {
  const { results } = await db
    .prepare(
      `UPDATE final_checkpoints SET status = 'unrevealed' WHERE status = 'awaiting' AND reveal_deadline <= ?
       RETURNING experiment_id AS experimentId`,
    )
    .bind(now)
    .all<{ experimentId: string }>();
  for (const id of new Set(results.map((r) => r.experimentId)))
    await settleCheckpoint(db, bucket, id, now);
  return results.length;
}

interface NodeRow {
  id: string;
  parentId: string | null;
  status: string;
  valBpb: number | null;
  checkpointSha256: string | null;
  dropped: number | null;
}

/**
 * The storage rule (docs/lineage.md): a lineage keeps the checkpoints of its frontier (experiments
 * none of whose children has a checkpoint yet) and of its best experiment (lowest verified val_bpb).
 * Any other kept checkpoint is dropped once no child of it is open or awaiting a spot check from it.
 * Unchosen replicas' uploads are deleted as soon as the canonical one is chosen.
 */
export async function pruneLineage(
  db: D1Database,
  bucket: R2Bucket,
  rootId: string,
  now: number,
): Promise<void> {
  const [nodes, stale, busy] = await db.batch([
    db
      .prepare(
        `SELECT id, parent_id AS parentId, status, val_bpb AS valBpb, checkpoint_sha256 AS checkpointSha256,
           checkpoint_dropped_at AS dropped
         FROM experiments WHERE id = ?1 OR root_id = ?1`,
      )
      .bind(rootId),
    db
      .prepare(
        `SELECT DISTINCT f.commitment FROM final_checkpoints f JOIN experiments e ON e.id = f.experiment_id
         WHERE (e.id = ?1 OR e.root_id = ?1) AND f.status = 'dropped'
           AND f.commitment != COALESCE(e.checkpoint_sha256, '')`,
      )
      .bind(rootId),
    db
      .prepare(
        `SELECT DISTINCT e.parent_id AS id FROM experiments e WHERE e.root_id = ?1 AND (e.status = 'open'
           OR EXISTS (SELECT 1 FROM spot_checks s WHERE s.experiment_id = e.id AND s.status IN ('awaiting-reveal', 'open', 'leased')))`,
      )
      .bind(rootId),
  ]);
  const all = nodes!.results as NodeRow[];
  const keptShas = new Set(all.filter((n) => n.checkpointSha256).map((n) => n.checkpointSha256));
  for (const { commitment } of stale!.results as { commitment: string }[])
    if (!keptShas.has(commitment)) await bucket.delete(blobKey(commitment));
  const withCheckpointedChild = new Set(
    all.filter((n) => n.checkpointSha256 && n.parentId).map((n) => n.parentId!),
  );
  const needed = new Set((busy!.results as { id: string }[]).map((r) => r.id));
  const best = all
    .filter((n) => n.status === 'verified' && n.checkpointSha256 && n.valBpb !== null)
    .sort((a, b) => a.valBpb! - b.valBpb! || (a.id < b.id ? -1 : 1))[0];
  const drop = all.filter(
    (n) =>
      n.checkpointSha256 &&
      n.dropped === null &&
      withCheckpointedChild.has(n.id) &&
      !needed.has(n.id) &&
      n.id !== best?.id,
  );
  for (const n of drop) {
    await db
      .prepare(
        'UPDATE experiments SET checkpoint_dropped_at = ? WHERE id = ? AND checkpoint_dropped_at IS NULL',
      )
      .bind(now, n.id)
      .run();
    await bucket.delete(blobKey(n.checkpointSha256!));
  }
}

/** A kept lineage checkpoint by its hash, for anyone (content-addressed and public once chosen). */
export async function keptCheckpoint(
  shards: D1Database[],
  bucket: R2Bucket,
  sha: string,
): Promise<R2ObjectBody> {
  // A content hash names no shard: every shard is asked (one indexed read each), the first that
  // knows the checkpoint answers.
  const rows = await Promise.all(
    shards.map((db) =>
      db
        .prepare(
          'SELECT checkpoint_dropped_at AS dropped FROM experiments WHERE checkpoint_sha256 = ? LIMIT 1',
        )
        .bind(sha)
        .first<{ dropped: number | null }>(),
    ),
  );
  const row = rows.find((r) => r !== null);
  if (!row) fail(404, 'unknown_checkpoint', 'No lineage checkpoint has this hash.');
  if (row.dropped !== null)
    fail(410, 'checkpoint_dropped', 'This checkpoint was dropped by its lineage’s storage rule.');
  const blob = await bucket.get(blobKey(sha));
  if (!blob) throw new Error(`the kept checkpoint ${sha} is missing from R2`);
  return blob;
}
