// Partner sites: their public names and what their widgets' volunteers contributed, one partner
// or all of them ranked (the partner leaderboard).
import { Hono } from 'hono';
import { PartnerId, type PartnerStats } from '../../../shared/protocol.ts';
import { partnerLeaderboard, partnerStats } from '../db/partners.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';

export const partners = new Hono<AppEnv>()
  .get('/', async (c) =>
    c.json<{ partners: PartnerStats[] }>({ partners: await partnerLeaderboard(c.env.DB) }),
  )
  .get('/:id', async (c) => {
    const id = c.req.param('id');
    if (!PartnerId.safeParse(id).success)
      fail(400, 'invalid_request', 'A partner id is 1–40 lowercase letters, digits or -.');
    const partner = await partnerStats(c.env.DB, id);
    if (!partner) fail(404, 'unknown_partner', `No partner has the id ${id}.`);
    return c.json<{ partner: PartnerStats }>({ partner });
  });
