// Campaigns and their leaderboards of verified experiments, ranked by val_bpb.
import { Hono } from 'hono';
import { CampaignBrief, admissionIssues, sampleExperiments } from '../../../shared/search-space.ts';
import { randomToken } from '../../../shared/crypto.ts';
import { parseBody, readBody } from '../body.ts';
import { findCampaign, listCampaigns } from '../db/campaign-rows.ts';
import { campaignStatements } from '../db/campaigns.ts';
import { leaderboard } from '../db/leaderboard.ts';
import { researcherAuth } from '../researcher-auth.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { BODY, doc } from '../openapi.ts';

export const campaigns = new Hono<AppEnv>()
  .post(
    '/',
    doc({
      summary: 'Create a campaign from a brief: seeded experiments within the admission bounds.',
      auth: 'researcher',
      body: CampaignBrief,
      errors: [...BODY, 'missing_token', 'bad_token', 'unknown_dataset', 'not_admitted'],
    }),
    researcherAuth,
    async (c) => {
      const brief = parseBody(await readBody(c), CampaignBrief);
      const dataset = await c.env.DB.prepare(
        'SELECT manifest_sha256 AS sha256, vocab_size AS vocabSize FROM datasets WHERE id = ?',
      )
        .bind(brief.datasetId)
        .first<{ sha256: string; vocabSize: number }>();
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
      const id = 'c_' + randomToken(9);
      const statements = await campaignStatements({
        id,
        name: brief.name,
        brief: brief.brief,
        template: brief.template,
        datasetId: brief.datasetId,
        createdAt: Date.now(),
        specs,
        replicas: brief.replicas,
      });
      const db = c.env.DB;
      await db.batch([
        ...statements.map((s) => db.prepare(s.sql).bind(...s.params)),
        db
          .prepare('UPDATE campaigns SET researcher_id = ?, brief_json = ? WHERE id = ?')
          .bind(c.get('researcher').id, JSON.stringify(brief), id),
      ]);
      return c.json({ campaign: await findCampaign(db, id) }, 201);
    },
  )
  .get(
    '/',
    doc({ summary: 'All campaigns with experiment and verified counts.', errors: [] }),
    async (c) => {
      const results = await listCampaigns(c.env.DB);
      return c.json({ campaigns: results });
    },
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
