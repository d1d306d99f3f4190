// The global view: campaigns by progress and volunteers by credit, across the whole edge.
import { Hono } from 'hono';
import { campaignStandings, volunteerStandings } from '../db/standings.ts';
import type { AppEnv } from '../env.ts';

export const leaderboards = new Hono<AppEnv>().get('/', async (c) => {
  const [campaigns, volunteers] = await Promise.all([
    campaignStandings(c.env.DB),
    volunteerStandings(c.env.DB, Date.now()),
  ]);
  return c.json({ campaigns, volunteers });
});
