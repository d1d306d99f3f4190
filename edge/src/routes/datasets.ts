// The datasets registered on this edge: what a campaign brief may name (and what the campaign
// form needs to run the admission policy in the browser before it submits).
import { Hono } from 'hono';
import { listDatasets } from '../db/datasets.ts';
import type { AppEnv } from '../env.ts';
import { doc } from '../openapi.ts';

export const datasets = new Hono<AppEnv>().get(
  '/',
  doc({
    summary: 'The datasets campaigns may use, with their vocabulary size and manifest SHA-256.',
    errors: [],
  }),
  async (c) => {
    return c.json({ datasets: await listDatasets(c.env.DB) });
  },
);
