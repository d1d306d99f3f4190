// Reads that span every D1 shard (shards.ts): a view asks each bound shard at once, one query or one
// batch per shard, and merges the answers into what one database holding every row would answer.
// Each view's merge rule is written here once; the per-shard SQL stays beside its table's code.
// The volunteers' views (standings, a volunteer's trust) are merged in fan-out-volunteers.ts.
import type {
  Campaign,
  CampaignStanding,
  CorpusRecord,
  PartnerStats,
} from '../../../shared/protocol.ts';
import { allShards, envOfId, homeDb } from '../shards.ts';
import { listCampaigns } from './campaign-rows.ts';
import { corpusPage, corpusRows, type CorpusCursor } from './corpus.ts';
import { partnerRows, shardPartnerStats } from './partners.ts';
import { shardCampaignStandings, STANDINGS_LIMIT } from './standings.ts';

/** `read` on every bound shard in parallel; the answers in shard order, shard 0 first. */
export function fanOut<T>(
  env: Env,
  read: (db: D1Database, shard: number) => Promise<T>,
): Promise<T[]> {
  return Promise.all(allShards(env).map((db, k) => read(db, k)));
}

/**
 * Lists of disjoint rows (each row lives in one shard) as one list in `order`, cut at `limit`.
 * Each shard's list must itself be the first `limit` rows of that shard in the same order, so the
 * first `limit` of the union are among them. The sort is stable: ties keep shard order.
 */
export function mergeSorted<T>(lists: T[][], order: (a: T, b: T) => number, limit = Infinity): T[] {
  return lists.flat().sort(order).slice(0, limit);
}

/** Rows of the same key from several shards folded into one with `add`, lower shards first. */
export function mergeByKey<T>(
  lists: T[][],
  key: (row: T) => string,
  add: (a: T, b: T) => T,
): Map<string, T> {
  const out = new Map<string, T>();
  for (const row of lists.flat()) {
    const k = key(row);
    const seen = out.get(k);
    out.set(k, seen === undefined ? row : add(seen, row));
  }
  return out;
}

/** Descending by a number, with null after every number (SQLite's `x IS NULL, x DESC`). */
export function descNullsLast(a: number | null, b: number | null): number {
  if (a === null || b === null) return (a === null ? 1 : 0) - (b === null ? 1 : 0);
  return b - a;
}

/** Ascending string order as SQLite's BINARY collation has it (ids are ASCII). */
export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** GET /api/campaigns: every shard's campaigns, newest first. */
export async function allCampaigns(env: Env): Promise<Campaign[]> {
  return mergeSorted(await fanOut(env, listCampaigns), (a, b) => b.createdAt - a.createdAt);
}

/**
 * Campaigns by progress (GET /api/leaderboards): latest verification first, never-verified last,
 * then newest; each shard sends its first STANDINGS_LIMIT, so the merged first ones are exact.
 */
export async function allCampaignStandings(env: Env): Promise<CampaignStanding[]> {
  const merged = mergeSorted(
    await fanOut(env, shardCampaignStandings),
    (a, b) =>
      descNullsLast(a.lastVerifiedAt, b.lastVerifiedAt) || descNullsLast(a.createdAt, b.createdAt),
    STANDINGS_LIMIT,
  );
  return merged.map(({ createdAt: _, ...row }) => row);
}

/**
 * Partner stats (GET /api/partners[/:id]): the partners are shard 0's, their work every shard's.
 * Experiments, verified results and tokens add (an experiment lives in one shard); volunteers are
 * the distinct ids over all shards. Ranked as before: verified results, tokens, oldest, id.
 */
export async function partnerStatsAcross(
  env: Env,
  id?: string,
  limit = 1_000,
): Promise<PartnerStats[]> {
  const [partners, shards] = await Promise.all([
    partnerRows(homeDb(env), id),
    fanOut(env, (db) => shardPartnerStats(db, id)),
  ]);
  const work = mergeByKey(
    shards,
    (s) => s.id,
    (a, b) => ({
      id: a.id,
      experiments: a.experiments + b.experiments,
      verifiedResults: a.verifiedResults + b.verifiedResults,
      tokensTrained: a.tokensTrained + b.tokensTrained,
      volunteers: [...a.volunteers, ...b.volunteers],
    }),
  );
  return partners
    .map((p) => {
      const w = work.get(p.id);
      return {
        ...p,
        experiments: w?.experiments ?? 0,
        verifiedResults: w?.verifiedResults ?? 0,
        tokensTrained: w?.tokensTrained ?? 0,
        volunteers: new Set(w?.volunteers).size,
      };
    })
    .sort(
      (a, b) =>
        b.verifiedResults - a.verifiedResults ||
        b.tokensTrained - a.tokensTrained ||
        a.createdAt - b.createdAt ||
        byText(a.id, b.id),
    )
    .slice(0, limit);
}

/**
 * A corpus page (GET /api/corpus): each shard sends its next limit + 1 experiments after the
 * cursor, and the first limit + 1 of their union in (verified_at, id) order make the page, so it is
 * the page one database would give. With a campaign, only that campaign's shard is read.
 */
export async function corpusAcross(
  env: Env,
  opts: { campaignId?: string; after?: CorpusCursor; limit: number },
): Promise<{ records: CorpusRecord[]; next: CorpusCursor | null }> {
  const dbs = opts.campaignId === undefined ? allShards(env) : [envOfId(env, opts.campaignId).DB];
  const parts = await Promise.all(dbs.map((db) => corpusRows(db, opts)));
  const experiments = mergeSorted(
    parts.map((p) => p.experiments),
    (a, b) => a.verifiedAt - b.verifiedAt || byText(a.id, b.id),
    opts.limit + 1,
  );
  return corpusPage(
    env.CHECKPOINTS,
    { experiments, results: parts.flatMap((p) => p.results) },
    opts.limit,
  );
}
