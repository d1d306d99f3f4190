// GET /api/corpus?format=jsonl|csv[&campaign=ID][&limit=N][&cursor=C]: every verified record, one
// page per call, oldest verification first. The next page's URL is in the Link header (rel="next")
// and its cursor in X-Next-Cursor; neither is sent on the last page. CSV pages after the first
// carry no header line, so the pages concatenate into one file.
import { Hono } from 'hono';
import {
  CSV_HEADER,
  csvLine,
  decodeCursor,
  encodeCursor,
  type CorpusCursor,
} from '../db/corpus.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { findCampaign } from '../db/campaign-rows.ts';
import { corpusAcross } from '../db/fan-out.ts';
import { envOfId } from '../shards.ts';
import { doc } from '../openapi.ts';

export const CORPUS_PAGE = { default: 200, max: 500 };

export const corpus = new Hono<AppEnv>().get(
  '/',
  doc({
    summary:
      'Every verified record (spec, seed, config, metrics, replicas) as JSON lines or CSV (?format=jsonl|csv, ?campaign, ?limit ≤ 500, ?cursor). The next page is in the Link header.',
    errors: ['invalid_request', 'unknown_campaign', 'archive_corrupt'],
  }),
  async (c) => {
    const format = c.req.query('format') ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'csv')
      fail(400, 'invalid_request', 'The format must be jsonl or csv.');
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? CORPUS_PAGE.default : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > CORPUS_PAGE.max) {
      fail(400, 'invalid_request', `The limit must be an integer from 1 to ${CORPUS_PAGE.max}.`);
    }
    const cursorText = c.req.query('cursor');
    let after: CorpusCursor | undefined;
    if (cursorText !== undefined) {
      after =
        decodeCursor(cursorText) ??
        fail(400, 'invalid_request', 'The cursor is not one this edge handed out.');
    }
    const campaignText = c.req.query('campaign');
    // A campaign is read in the shard its id names; without one, every shard (db/fan-out.ts).
    const campaignId =
      campaignText === undefined
        ? undefined
        : (await findCampaign(envOfId(c.env, campaignText).DB, campaignText)).id;

    const { records, next } = await corpusAcross(c.env, { campaignId, after, limit });
    if (next) {
      const url = new URL(c.req.url);
      url.searchParams.set('cursor', encodeCursor(next));
      c.header('Link', `<${url.pathname}${url.search}>; rel="next"`);
      c.header('X-Next-Cursor', encodeCursor(next));
    }
    c.header('Content-Disposition', `inline; filename="tabgrid-corpus.${format}"`);
    if (format === 'csv') {
      const body = (after ? '' : CSV_HEADER) + records.map(csvLine).join('');
      return c.body(body, 200, { 'Content-Type': 'text/csv; charset=utf-8; header=present' });
    }
    return c.body(records.map((r) => JSON.stringify(r) + '\n').join(''), 200, {
      'Content-Type': 'application/x-ndjson; charset=utf-8',
    });
  },
);
