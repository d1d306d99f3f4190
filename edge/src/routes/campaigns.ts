// Campaigns and their leaderboards of verified experiments, ranked by val_bpb.
import { Hono } from 'hono';
import {
  CampaignBrief,
  admissionIssues,
  lineageDepth,
  sampleExperiments,
} from '../../../shared/search-space.ts';
import { randomToken } from '../../../shared/crypto.ts';
import { BriefOrSweep } from '../../../shared/wandb-sweep.ts';
import { parseBody, readBody } from '../body.ts';
import { findCampaign, insertCampaign } from '../db/campaign-rows.ts';
import { allCampaigns } from '../db/fan-out.ts';
import { datasetRef } from '../db/datasets.ts';
import { campaignStatements } from '../db/campaigns.ts';
import { leaderboard } from '../db/leaderboard.ts';
import { researcherAuth } from '../researcher-auth.ts';
import { enterShard, inShardOfParam, pickShard, shardPrefix } from '../shards.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { BODY, doc } from '../openapi.ts';

export const campaigns = new Hono<AppEnv>()
  .use('/:id', inShardOfParam)
  .use('/:id/*', inShardOfParam)
  .post(
    '/',
    doc({
      summary:
        'Create a campaign from a brief, or a W&B sweep configuration mapped to one: seeded experiments within the admission bounds.',
      auth: 'researcher',
      body: CampaignBrief,
      errors: [...BODY, 'missing_token', 'bad_token', 'unknown_dataset', 'not_admitted'],
    }),
    researcherAuth,
    async (c) => {
      const brief = parseBody(await readBody(c), BriefOrSweep); // a brief, or a W&B sweep mapped to one
      const dataset = await datasetRef(c.env.DB, brief.datasetId);
      if (!dataset) {
        fail(422, 'unknown_dataset', `No dataset ${brief.datasetId} is registered on this edge.`, [
          { path: 'datasetId', message: 'Unknown dataset.' },
        ]);
      }
      const specs = sampleExperiments(brief, {
        ref: { id: brief.datasetId, sha256: dataset.sha256 },
        vocabSize: dataset.vocabSize,
      });
      const issues = admissionIssues(brief, specs);
      if (issues.length) fail(422, 'not_admitted', issues[0]!.message, issues);
      // The campaign lives whole in one shard, which its id names (shards.ts).
      const id = shardPrefix('c', pickShard(c.env)) + randomToken(9);
      const env = enterShard(c, id);
      const statements = await campaignStatements({
        id,
        name: brief.name,
        brief: brief.brief,
        template: brief.template,
        datasetId: brief.datasetId,
        createdAt: Date.now(),
        specs,
        replicas: brief.replicas,
        segments: lineageDepth(brief),
        strategy: brief.strategy,
      });
      await insertCampaign(env.DB, statements, {
        id,
        researcher: c.get('researcher'),
        brief,
        now: Date.now(),
      });
      return c.json({ campaign: await findCampaign(env.DB, id) }, 201);
    },
  )
  .get(
    '/',
    doc({ summary: 'All campaigns with experiment and verified counts.', errors: [] }),
    async (c) => c.json({ campaigns: await allCampaigns(c.env) }), // every shard's, newest first
  )
  .get(
    '/:id',
    doc({ summary: 'One campaign.', errors: ['invalid_request', 'unknown_campaign'] }),
    async (c) => {
      const campaign = await findCampaign(c.env.DB, c.req.param('id'));
      return c.json({ campaign });
    },
  )
  .get(
    '/:id/leaderboard',
    doc({
      summary: 'Verified experiments ranked by val_bpb.',
      errors: ['invalid_request', 'unknown_campaign'],
    }),
    async (c) => {
      const campaign = await findCampaign(c.env.DB, c.req.param('id'));
      return c.json({ campaign, rows: await leaderboard(c.env.DB, campaign.id) });
    },
  );
