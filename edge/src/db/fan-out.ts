// Reads that span every D1 shard (shards.ts): a view asks each bound shard at once, one query or one
// batch per shard, and merges the answers into what one database holding every row would answer.
// Each view's merge rule is written here once; the per-shard SQL stays beside its table's code.
import type {
  Campaign,
  CampaignStanding,
  CorpusRecord,
  PartnerStats,
  VolunteerStanding,
  VolunteerTrust,
} from '../../../shared/protocol.ts';
import { allShards, envOfId, homeDb } from '../shards.ts';
import {
  creditAtLeast,
  creditOf,
  shardTrust,
  shownTrust,
  type ShardTrust,
  type VolunteerRow,
} from '../trust/standing.ts';
import { listCampaigns } from './campaign-rows.ts';
import { corpusPage, corpusRows, type CorpusCursor } from './corpus.ts';
import { partnerRows, shardPartnerStats } from './partners.ts';
import {
  namedVolunteerStandings,
  shardCampaignStandings,
  shardVolunteerStandings,
  shownStanding,
  STANDINGS_LIMIT,
  type ShardStanding,
} from './standings.ts';

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
 * Volunteers by credit (GET /api/leaderboards), one row per volunteer summed over the shards it has
 * work in: credit, decayed credit (the recent average is linear in it, credit.ts) and counts add;
 * reputation is the lowest of those shards' (each judges alone; the cautious figure is shown); the
 * display name is the lowest shard's (registration writes the same name to all).
 */
export async function allVolunteerStandings(env: Env, now: number): Promise<VolunteerStanding[]> {
  const pages = await fanOut(env, shardVolunteerStandings);
  // A shard whose page is full may hold work of a volunteer listed by another shard but not by it:
  // those rows are read by id (a second query, only in full shards), so every row shown is whole.
  const listed = new Set(pages.flat().map((v) => v.volunteerId));
  const whole = await fanOut(env, async (db, k) => {
    const page = pages[k]!;
    if (page.length < STANDINGS_LIMIT) return page;
    const own = new Set(page.map((v) => v.volunteerId));
    const missing = [...listed].filter((id) => !own.has(id));
    return missing.length ? [...page, ...(await namedVolunteerStandings(db, missing))] : page;
  });
  const merged = mergeByKey(whole, (v) => v.volunteerId, addStandings);
  return [...merged.values()]
    .sort(
      (a, b) =>
        b.credit - a.credit ||
        b.verifiedExperiments - a.verifiedExperiments ||
        byText(a.volunteerId, b.volunteerId),
    )
    .slice(0, STANDINGS_LIMIT)
    .map((v) => shownStanding(v, now));
}

function addStandings(a: ShardStanding, b: ShardStanding): ShardStanding {
  return {
    ...a,
    credit: a.credit + b.credit,
    creditDecayed: a.creditDecayed + b.creditDecayed,
    verifiedExperiments: a.verifiedExperiments + b.verifiedExperiments,
    rejectedResults: a.rejectedResults + b.rejectedResults,
    reputation: Math.min(a.reputation, b.reputation),
  };
}

/** How many near-credit volunteers per shard the merged rank reads before it gives up (null). */
export const RANK_WINDOW = 1_000;

/**
 * GET /api/volunteers/:id across shards. Identity is shard 0's (it decides registration). Credit,
 * results and per-class valid/invalid counts add. Reputation and open-lease quota are the lowest of
 * the shards that judged the volunteer (a decided result or credit there; shard 0's when none has):
 * each shard judges alone, and the cautious figure is the safer one to show. A class's consecutive
 * valid results are the fewest of the shards that saw the class: the streak every shard has seen.
 */
export async function volunteerTrustAcross(
  env: Env,
  id: string,
  now: number,
): Promise<VolunteerTrust | null> {
  const single = allShards(env).length === 1;
  const parts = await fanOut(env, (db) => shardTrust(db, id, single));
  const home = parts[0]!.row;
  if (!home) return null;
  const judged = parts.flatMap((p) =>
    p.row && (p.results.valid + p.results.invalid > 0 || p.row.creditTotal > 0) ? [p.row] : [],
  );
  const lowest = (pick: (r: VolunteerRow) => number) =>
    judged.length ? Math.min(...judged.map(pick)) : pick(home);
  const sum = (pick: (p: ShardTrust) => number) => parts.reduce((t, p) => t + pick(p), 0);
  const row: VolunteerRow = {
    ...home,
    reputation: lowest((r) => r.reputation),
    quota: lowest((r) => r.quota),
    creditTotal: sum((p) => p.row?.creditTotal ?? 0),
    creditDecayed: sum((p) => p.row?.creditDecayed ?? 0),
  };
  const results = {
    valid: sum((p) => p.results.valid),
    invalid: sum((p) => p.results.invalid),
    pending: sum((p) => p.results.pending),
    trustedSingle: sum((p) => p.results.trustedSingle),
  };
  const classes = mergeByKey(
    parts.map((p) => p.classes),
    (k) => k.backendClass,
    (a, b) => ({
      backendClass: a.backendClass,
      consecutiveValid: Math.min(a.consecutiveValid, b.consecutiveValid),
      valid: a.valid + b.valid,
      invalid: a.invalid + b.invalid,
    }),
  );
  const rank =
    row.creditTotal <= 0
      ? null
      : single
        ? 1 + (parts[0]!.ahead ?? 0)
        : await rankAcross(env, id, row.creditTotal);
  const ordered = [...classes.values()].sort((a, b) => byText(a.backendClass, b.backendClass));
  return shownTrust(row, results, ordered, rank, now);
}

/**
 * 1 + the volunteers whose credit summed over the K shards exceeds `total`. Such a volunteer has more
 * than total / K in some shard, so each shard names its volunteers above that floor (an index range
 * on volunteers_by_credit), and their credit is then summed from every shard. A volunteer far down
 * the table has too many near it: past RANK_WINDOW in a shard the rank is not worth its reads, and
 * is null (the page shows none) rather than a guess.
 */
async function rankAcross(env: Env, id: string, total: number): Promise<number | null> {
  const k = allShards(env).length;
  // Slack below total / K for the rounding of a sum of K doubles; a wider net only reads more.
  const floor = (total / k) * (1 - 1e-9);
  const near = await fanOut(env, (db) => creditAtLeast(db, floor, RANK_WINDOW + 1));
  if (near.some((ids) => ids.length > RANK_WINDOW)) return null;
  const others = [...new Set(near.flat())].filter((v) => v !== id);
  if (!others.length) return 1;
  const credits = await fanOut(env, (db) => creditOf(db, others));
  const sums = mergeByKey(
    credits,
    (r) => r.id,
    (a, b) => ({ id: a.id, credit: a.credit + b.credit }),
  );
  return 1 + [...sums.values()].filter((r) => r.credit > total).length;
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
