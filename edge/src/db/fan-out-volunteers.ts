// The volunteers' views across D1 shards (fan-out.ts): the standings of GET /api/leaderboards and
// one volunteer's standing (GET /api/volunteers/:id). Every shard holds a row for every volunteer,
// with the credit, reputation and counters of that shard's verdicts only, so a volunteer's figures
// are merged from its rows in the shards it has work in.
import type { VolunteerStanding, VolunteerTrust } from '../../../shared/protocol.ts';
import { allShards } from '../shards.ts';
import {
  creditAtLeast,
  creditOf,
  shardTrust,
  shownTrust,
  type ShardTrust,
  type VolunteerRow,
} from '../trust/standing.ts';
import { byText, fanOut, mergeByKey } from './fan-out.ts';
import {
  namedVolunteerStandings,
  shardVolunteerStandings,
  shownStanding,
  STANDINGS_LIMIT,
  type ShardStanding,
} from './standings.ts';

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
