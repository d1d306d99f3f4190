// Partner sites: their public names and what their widgets' volunteers contributed, one partner
// or all of them ranked (the partner leaderboard), summed over every shard (db/fan-out.ts).
import { Hono } from 'hono';
import { PartnerId, type PartnerStats } from '../../../shared/protocol.ts';
import { partnerStatsAcross } from '../db/fan-out.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { doc } from '../openapi.ts';

export const partners = new Hono<AppEnv>()
  .get(
    '/',
    doc({
      summary:
        'Partner sites ranked by verified results, with tokens trained and volunteers through their widgets.',
      errors: [],
    }),
    async (c) =>
      c.json<{ partners: PartnerStats[] }>({ partners: await partnerStatsAcross(c.env) }),
  )
  .get(
    '/:id',
    doc({
      summary: "One partner's public name and stats.",
      errors: ['invalid_request', 'unknown_partner'],
    }),
    async (c) => {
      const id = c.req.param('id');
      if (!PartnerId.safeParse(id).success)
        fail(400, 'invalid_request', 'A partner id is 1–40 lowercase letters, digits or -.');
      const [partner] = await partnerStatsAcross(c.env, id);
      if (!partner) fail(404, 'unknown_partner', `No partner has the id ${id}.`);
      return c.json<{ partner: PartnerStats }>({ partner });
    },
  );
