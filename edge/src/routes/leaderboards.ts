// The global view: campaigns by progress and volunteers by credit, across the whole edge.
import { Hono } from 'hono';
import { campaignStandings, volunteerStandings } from '../db/standings.ts';
import type { AppEnv } from '../env.ts';
import { doc } from '../openapi.ts';

export const leaderboards = new Hono<AppEnv>().get(
  '/',
  doc({
    summary:
      'Campaigns by progress and volunteers by credit (FLOPs verified), recent average credit and verified experiments.',
    errors: [],
  }),
  async (c) => {
    const [campaigns, volunteers] = await Promise.all([
      campaignStandings(c.env.DB),
      volunteerStandings(c.env.DB, Date.now()),
    ]);
    return c.json({ campaigns, volunteers });
  },
);
