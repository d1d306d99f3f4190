// What a campaign page reads: one snapshot (campaign, progress, leaderboard, the leaders' curves),
// re-read after every reconnect; and the pieces on their own for API users, including the
// parameter importance computed with the same function the page uses.
import { Hono } from 'hono';
import { parameterImportance } from '../../../shared/importance.ts';
import type { CampaignSnapshot } from '../../../shared/protocol.ts';
import { leaderboard, leaderCurves } from '../db/leaderboard.ts';
import { campaignProgress } from '../db/progress.ts';
import { volunteerStandings } from '../db/standings.ts';
import type { AppEnv } from '../env.ts';
import { inShardOfParam } from '../shards.ts';
import { fail } from '../errors.ts';
import { findCampaign } from '../db/campaign-rows.ts';
import { campaignLineages, campaignShape, campaignStrategy } from '../db/experiments.ts';
import { doc } from '../openapi.ts';

/** Leaders whose loss curves the page draws. */
export const LEADERS = 5;

function topParam(raw: string | undefined): number {
  if (raw === undefined) return LEADERS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 20)
    fail(400, 'invalid_request', 'The top parameter must be an integer from 1 to 20.');
  return n;
}

export const campaignViews = new Hono<AppEnv>()
  .use('/:id/*', inShardOfParam)
  .get(
    '/:id/snapshot',
    doc({
      summary:
        'What a campaign page shows: the campaign, its progress and ETA, the leaderboard and the leaders’ loss curves. Re-read it after every reconnect.',
      errors: ['invalid_request', 'unknown_campaign'],
    }),
    async (c) => {
      const campaign = await findCampaign(c.env.DB, c.req.param('id'));
      const [progress, rows, leaders, shape] = await Promise.all([
        campaignProgress(c.env.DB, campaign.id, Date.now()),
        leaderboard(c.env.DB, campaign.id),
        leaderCurves(c.env.DB, campaign.id, LEADERS),
        campaignShape(c.env.DB, campaign.id),
      ]);
      const lineages = shape.lineages ? await campaignLineages(c.env.DB, campaign.id, 2000) : [];
      return c.json<CampaignSnapshot>({
        campaign,
        progress,
        rows,
        leaders,
        lineages,
        strategy: shape.strategy,
      });
    },
  )
  .get(
    '/:id/lineages',
    doc({
      summary:
        "The campaign's experiments as lineages (parent links, depth, status, val_bpb, kept checkpoints), root first, at most 2,000; and its strategy (null: random search).",
      errors: ['invalid_request', 'unknown_campaign'],
    }),
    async (c) => {
      const campaign = await findCampaign(c.env.DB, c.req.param('id'));
      const [nodes, strategy] = await Promise.all([
        campaignLineages(c.env.DB, campaign.id, 2000),
        campaignStrategy(c.env.DB, campaign.id),
      ]);
      return c.json({ nodes, strategy });
    },
  )
  .get(
    '/:id/progress',
    doc({
      summary:
        'Experiments queued, running, awaiting a replica, verified and disputed, the active fleet and an ETA.',
      errors: ['invalid_request', 'unknown_campaign'],
    }),
    async (c) => {
      const campaign = await findCampaign(c.env.DB, c.req.param('id'));
      return c.json({ progress: await campaignProgress(c.env.DB, campaign.id, Date.now()) });
    },
  )
  .get(
    '/:id/curves',
    doc({
      summary: 'Mean loss curves of the best verified experiments (?top=1–20, default 5).',
      errors: ['invalid_request', 'unknown_campaign'],
    }),
    async (c) => {
      const campaign = await findCampaign(c.env.DB, c.req.param('id'));
      return c.json({
        curves: await leaderCurves(c.env.DB, campaign.id, topParam(c.req.query('top'))),
      });
    },
  )
  .get(
    '/:id/importance',
    doc({
      summary:
        'How much of val_bpb each hyperparameter explains: a one-way variance decomposition (ε²), the method named in the response.',
      errors: ['invalid_request', 'unknown_campaign'],
    }),
    async (c) => {
      const campaign = await findCampaign(c.env.DB, c.req.param('id'));
      const rows = await leaderboard(c.env.DB, campaign.id);
      return c.json({
        importance: parameterImportance(rows.map((r) => ({ spec: r.config, valBpb: r.valBpb }))),
      });
    },
  )
  .get(
    '/:id/volunteers',
    doc({
      summary: 'Volunteers ranked by the credit they earned in this campaign.',
      errors: ['invalid_request', 'unknown_campaign'],
    }),
    async (c) => {
      const campaign = await findCampaign(c.env.DB, c.req.param('id'));
      return c.json({ volunteers: await volunteerStandings(c.env.DB, Date.now(), campaign.id) });
    },
  );
