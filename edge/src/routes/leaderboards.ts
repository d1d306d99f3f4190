// The global view: campaigns by progress and volunteers by credit, across the whole edge (every
// shard, merged by db/fan-out.ts).
import { Hono } from 'hono';
import { allCampaignStandings } from '../db/fan-out.ts';
import { allVolunteerStandings } from '../db/fan-out-volunteers.ts';
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
      allCampaignStandings(c.env),
      allVolunteerStandings(c.env, Date.now()),
    ]);
    return c.json({ campaigns, volunteers });
  },
);
