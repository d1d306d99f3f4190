// Lineage routes (docs/lineage.md): a result's volunteer uploads its final checkpoint; anyone
// downloads a kept checkpoint by its hash; a campaign's researcher continues a verified experiment.
import { Hono } from 'hono';
import { z } from 'zod';
import { Id } from '../../../shared/protocol.ts';
import { ExperimentSpec, Sha256Hex } from '../../../shared/spec.ts';
import { checkpointUploadRoute, UPLOAD } from '../auth.ts';
import { parseBody, readBody } from '../body.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { allShards, enterShard } from '../shards.ts';
import { keptCheckpoint, revealFinalCheckpoint } from '../lineage/checkpoints.ts';
import { addChild } from '../lineage/children.ts';
import { sequenceLedger } from '../ledger-sequencer.ts';
import { researcherAuth } from '../researcher-auth.ts';
import { MAX_REVEAL_BYTES } from '../trust/policy.ts';
import { BODY, REVEALED, doc } from '../openapi.ts';

/** PUT /api/results/:id/checkpoint: a lineage result's final checkpoint, from its own volunteer. */
export const finalCheckpoints = new Hono<AppEnv>().put(
  '/:id/checkpoint',
  doc({
    summary:
      "A lineage result's volunteer uploads the final checkpoint its result committed to (application/octet-stream, at most 64 MiB), signed as an upload. Checked against the commitment, the result's curve and the parent checkpoint; 201 when stored, 200 when it already was.",
    auth: 'volunteer',
    errors: [
      ...UPLOAD,
      'unknown_checkpoint',
      'foreign_result',
      ...REVEALED,
      'parent_mismatch',
      'busy',
    ],
  }),
  ...checkpointUploadRoute(
    MAX_REVEAL_BYTES,
    'result',
    async (env, id, volunteerId, read, now) => {
      const { stored } = await revealFinalCheckpoint(
        env.DB,
        env.CHECKPOINTS,
        id,
        volunteerId,
        read,
        now,
      );
      await sequenceLedger(env); // the checkpoint's settlement may have decided (ledger-sequencer.ts)
      return stored;
    },
    (resultId, stored) => ({ resultId, stored }),
  ),
);

/** GET /api/checkpoints/:sha256: a kept lineage checkpoint, immutable. */
export const checkpoints = new Hono<AppEnv>().get(
  '/:id',
  doc({
    summary:
      "A kept lineage checkpoint by its hash (shared/commit.ts's blob; its header hashes to the name, each tensor to the header's hash of it). Public and immutable.",
    errors: ['invalid_request', 'unknown_checkpoint', 'checkpoint_dropped'],
  }),
  async (c) => {
    const sha = c.req.param('id');
    if (!Sha256Hex.safeParse(sha).success)
      fail(400, 'invalid_request', 'A checkpoint is named by 64 lowercase hex digits.');
    const blob = await keptCheckpoint(allShards(c.env), c.env.CHECKPOINTS, sha);
    return new Response(blob.body, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(blob.size),
        'cache-control': 'public, max-age=31536000, immutable',
        etag: `"${sha}"`,
      },
    });
  },
);

export const ContinuationRequest = z.object({ spec: ExperimentSpec }).strict();

/** POST /api/campaigns/:id/experiments: a continuation of one of the campaign's verified experiments. */
export const continuations = new Hono<AppEnv>().post(
  '/:id/experiments',
  doc({
    summary:
      "Continue a verified experiment of your campaign: a spec naming its parent {experimentId, step, checkpointSha256}; it may change the schedule, weight decay, β₂, clipping, batch size and length, never the architecture. 201 with the child's id, 200 when the same spec exists.",
    auth: 'researcher',
    body: ContinuationRequest,
    errors: [
      ...BODY,
      'missing_token',
      'bad_token',
      'missing_parent',
      'unknown_parent',
      'parent_other_campaign',
      'not_campaign_owner',
      'parent_unverified',
      'parent_unrevealed',
      'parent_dropped',
      'parent_checkpoint_mismatch',
      'architecture_change',
      'parent_dataset',
      'continuation_change',
      'not_admitted',
    ],
  }),
  researcherAuth,
  async (c) => {
    const campaignId = c.req.param('id');
    if (!Id.safeParse(campaignId).success)
      fail(400, 'invalid_request', 'A campaign id is 1–64 letters, digits, _ or -.');
    const { spec } = parseBody(await readBody(c), ContinuationRequest);
    const child = await addChild(
      enterShard(c, campaignId).DB,
      campaignId,
      c.get('researcher').id,
      spec,
    );
    return c.json(
      { experiment: { id: child.id, specHash: child.specHash } },
      child.created ? 201 : 200,
    );
  },
);
