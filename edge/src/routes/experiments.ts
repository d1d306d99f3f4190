// One experiment in full: its spec, every replica's verdict (and, once the experiment is settled,
// its metrics), the tolerance it was judged by, and the command that retrains it locally
// (scripts/reproduce.ts). An open experiment's metrics stay sealed: a replica that could read them
// could copy them instead of training.
import { Hono } from 'hono';
import { Id } from '../../../shared/protocol.ts';
import { experimentDetail } from '../db/experiments.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { enterShard } from '../shards.ts';
import { doc } from '../openapi.ts';

export const experiments = new Hono<AppEnv>().get(
  '/:id',
  doc({
    summary:
      'One experiment: spec, every replica with its verdict (and, once the experiment is settled, its backend, curve and metrics), the tolerance, and the command that reproduces it.',
    errors: ['invalid_request', 'unknown_experiment'],
  }),
  async (c) => {
    const id = c.req.param('id');
    if (!Id.safeParse(id).success)
      fail(400, 'invalid_request', 'An experiment id is 1–64 letters, digits, _ or -.');
    const detail = await experimentDetail(enterShard(c, id).DB, id); // its campaign's shard
    if (!detail) fail(404, 'unknown_experiment', `No experiment has the id ${id}.`);
    return c.json({ experiment: detail });
  },
);
