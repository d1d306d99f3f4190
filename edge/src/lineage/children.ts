// Child experiments (docs/lineage.md): the statement that writes one, used by a lineage's next
// segment and by the strategies' decisions, and a researcher's continuation of a verified
// experiment — a spec that names its parent checkpoint, checked against the parent before
// anything is written.
import {
  ExperimentSpec,
  continuationIssue,
  specHash,
  tokenBudget,
  trainingFlops,
} from '../../../shared/spec.ts';
import { ADMISSION } from '../../../shared/search-space.ts';
import { randomToken } from '../../../shared/crypto.ts';
import { shardOfId, shardPrefix } from '../shards.ts';
import { fail } from '../errors.ts';

/** The id of a lineage's next segment: its root's id and its depth. */
export const segmentId = (rootId: string, depth: number) => `${rootId}-s${depth}`;

/**
 * A child experiment of `parentId` with `spec` (which names the parent), in the parent's campaign,
 * after its last experiment; nothing if the id is taken.
 */
export async function childStatement(
  db: D1Database,
  parentId: string,
  childId: string,
  spec: ExperimentSpec,
): Promise<D1PreparedStatement> {
  return db
    .prepare(
      `INSERT OR IGNORE INTO experiments (id, campaign_id, idx, spec_json, spec_hash, dataset_sha256, flops, tokens,
         replicas_needed, quorum, parent_id, root_id, depth)
       SELECT ?1, p.campaign_id, (SELECT MAX(idx) + 1 FROM experiments WHERE campaign_id = p.campaign_id), ?2, ?3,
         p.dataset_sha256, ?4, ?5, p.quorum, p.quorum, p.id, COALESCE(p.root_id, p.id), p.depth + 1
       FROM experiments p WHERE p.id = ?6`,
    )
    .bind(
      childId,
      JSON.stringify(spec),
      await specHash(spec),
      trainingFlops(spec),
      tokenBudget(spec),
      parentId,
    );
}

interface ParentRow {
  id: string;
  campaignId: string;
  status: string;
  specJson: string;
  checkpointSha256: string | null;
  dropped: number | null;
  owner: string | null;
  segments: number;
}

/**
 * Adds `spec` as a child of the verified experiment it names, in campaign `campaignId` (owned by
 * `researcherId`). Refusals, each a 4xx with a stable code and nothing written: an unknown parent,
 * one of another campaign, unverified, whose checkpoint is not chosen yet or was dropped, a
 * checkpoint hash or step that is not the parent's, and any change a continuation may not make
 * (architecture, dataset, seed, β₁, ε). A cycle cannot be named: a parent must already be verified,
 * and a new experiment's id is made here. The same spec twice returns the first child.
 */
export async function addChild(
  db: D1Database,
  campaignId: string,
  researcherId: string,
  spec: ExperimentSpec,
): Promise<{ id: string; specHash: string; created: boolean }> {
  if (!spec.parent)
    fail(422, 'missing_parent', 'A continuation names its parent: spec.parent.', [
      { path: 'spec.parent', message: 'Required.' },
    ]);
  const p = await db
    .prepare(
      `SELECT e.id, e.campaign_id AS campaignId, e.status, e.spec_json AS specJson, e.checkpoint_sha256 AS checkpointSha256,
         e.checkpoint_dropped_at AS dropped, c.researcher_id AS owner, c.segments
       FROM experiments e JOIN campaigns c ON c.id = e.campaign_id WHERE e.id = ?`,
    )
    .bind(spec.parent.experimentId)
    .first<ParentRow>();
  if (!p) fail(404, 'unknown_parent', `No experiment has the id ${spec.parent.experimentId}.`);
  if (p.campaignId !== campaignId)
    fail(422, 'parent_other_campaign', 'The parent belongs to another campaign.');
  if (p.owner !== researcherId)
    fail(403, 'not_campaign_owner', 'Only the researcher who created the campaign adds to it.');
  if (p.status !== 'verified')
    fail(409, 'parent_unverified', 'The parent is not verified: only verified work is continued.');
  if (p.segments < 2)
    fail(
      409,
      'parent_unrevealed',
      'The parent’s campaign keeps no checkpoints (create it with segments ≥ 2).',
    );
  if (!p.checkpointSha256)
    fail(409, 'parent_unrevealed', 'The parent’s canonical checkpoint is not chosen yet.');
  if (p.dropped !== null)
    fail(410, 'parent_dropped', 'The parent’s checkpoint was dropped by the storage rule.');
  if (spec.parent.checkpointSha256 !== p.checkpointSha256)
    fail(422, 'parent_checkpoint_mismatch', `The parent's checkpoint is ${p.checkpointSha256}.`, [
      { path: 'spec.parent.checkpointSha256', message: 'Not the parent’s canonical checkpoint.' },
    ]);
  const issue = continuationIssue(ExperimentSpec.parse(JSON.parse(p.specJson)), spec);
  if (issue) {
    const code =
      issue.path === 'model'
        ? 'architecture_change'
        : issue.path === 'dataset'
          ? 'parent_dataset'
          : 'continuation_change';
    fail(422, code, issue.message, [{ path: `spec.${issue.path}`, message: issue.message }]);
  }
  if (trainingFlops(spec) > ADMISSION.maxFlops)
    fail(
      422,
      'not_admitted',
      `The continuation needs ${(trainingFlops(spec) / 1e12).toFixed(1)} TFLOP; the limit is ${ADMISSION.maxFlops / 1e12} TFLOP per experiment.`,
      [{ path: 'spec.train.steps', message: 'Too long for one volunteer.' }],
    );
  const hash = await specHash(spec);
  const same = await db
    .prepare('SELECT id FROM experiments WHERE campaign_id = ? AND spec_hash = ?')
    .bind(campaignId, hash)
    .first<{ id: string }>();
  if (same) return { id: same.id, specHash: hash, created: false };
  const id = shardPrefix('x', shardOfId(campaignId)) + randomToken(9);
  await (await childStatement(db, p.id, id, spec)).run();
  return { id, specHash: hash, created: true };
}
