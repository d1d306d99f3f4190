// Live campaign pages: the WebSocket upgrade route (mounted before secureHeaders, which throws on a
// 101 response: docs/edge.md) and the notification the results route sends after validation.
import type { Context } from 'hono';
import { Hono } from 'hono';
import type {
  CampaignProgress,
  ExperimentCurve,
  LeaderboardEntry,
  LiveEvent,
} from '../../shared/protocol.ts';
import {
  curveOf,
  curveStatement,
  entryOf,
  entryStatement,
  experimentCurve,
  leaderboardEntry,
} from './db/leaderboard.ts';
import { experimentCampaign } from './db/experiments.ts';
import { campaignProgress, progressOf, progressStatements } from './db/progress.ts';
import type { AppEnv } from './env.ts';
import { enterShard, envOfId, homeEnv } from './shards.ts';
import { fail } from './errors.ts';
import { ipRateLimit } from './rate-limit.ts';
import { findCampaign } from './db/campaign-rows.ts';
import { doc } from './openapi.ts';

function hub(env: Env, campaignId: string) {
  return env.CAMPAIGN_HUB.get(env.CAMPAIGN_HUB.idFromName(campaignId));
}

export const live = new Hono<AppEnv>().get(
  '/:id/live',
  doc({
    summary:
      'WebSocket (Upgrade: websocket): LiveEvent JSON frames when results arrive and experiments verify; send "ping" to get "pong".',
    errors: ['invalid_request', 'unknown_campaign', 'upgrade_required'],
  }),
  ipRateLimit,
  async (c) => {
    const campaign = await findCampaign(enterShard(c, c.req.param('id')).DB, c.req.param('id'));
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      fail(426, 'upgrade_required', 'This route is a WebSocket: send Upgrade: websocket.');
    }
    return hub(c.env, campaign.id).fetch(c.req.raw);
  },
);

/** A campaign's progress goes out at most once per this long per isolate (verifications at once). */
export const PROGRESS_EVERY_MS = 1000;
const MAX_CLOCKS = 1000;

/**
 * Per isolate: when each campaign's progress was last pushed (each push is a hub broadcast to every
 * open page), and whether a trailing update is already scheduled. Bounded: past MAX_CLOCKS
 * campaigns the oldest entry goes, which only costs that campaign one uncoalesced update.
 */
const clocks = new Map<string, { at: number; trailing: boolean }>();

function clockOf(campaignId: string): { at: number; trailing: boolean } {
  let clock = clocks.get(campaignId);
  if (!clock) {
    if (clocks.size >= MAX_CLOCKS) clocks.delete(clocks.keys().next().value!);
    clock = { at: -Infinity, trailing: false };
    clocks.set(campaignId, clock);
  }
  return clock;
}

/**
 * Tells the experiment's campaign hub what changed: new progress, and the row if it is verified.
 *
 * A verification goes out at once, with fresh progress (pages drop an event older than the progress
 * they show, so it cannot carry a cached one). Progress alone is coalesced when `later` can run a
 * task after the response (the execution context's waitUntil): at most one computation per campaign
 * per PROGRESS_EVERY_MS in this isolate, the last change within a window going out at its end. Without
 * `later` (app.request in tests) every result pushes its progress at once, as before.
 */
export async function notifyCampaign(
  env: Env,
  experimentId: string,
  now = Date.now(),
  later?: (task: Promise<void>) => void,
): Promise<void> {
  const shard = envOfId(homeEnv(env), experimentId); // the experiment's shard (shards.ts)
  const exp = await experimentCampaign(shard.DB, experimentId);
  if (exp) await notifyCampaignOf(shard, { experimentId, ...exp }, now, later);
}

/** What a verification's live update reads: the campaign's progress, the row and its curve. */
export interface LiveReads {
  progress: CampaignProgress;
  row: LeaderboardEntry | null;
  curve: ExperimentCurve | null;
}

/** The live update's reads, to ride at the end of the batch that may verify the experiment. */
export function liveStatements(
  db: D1Database,
  campaignId: string,
  experimentId: string,
  now: number,
): D1PreparedStatement[] {
  return [
    ...progressStatements(db, campaignId, now),
    entryStatement(db, experimentId),
    curveStatement(db, experimentId),
  ];
}

export function liveOf(results: D1Result[], now: number): LiveReads {
  return {
    progress: progressOf(results.slice(0, 2), now),
    row: entryOf(results[2]),
    curve: curveOf(results[3]),
  };
}

/**
 * notifyCampaign for a caller that has just read the experiment's campaign and status; `read`: the
 * live update's reads (liveOf), when the caller's batch already made them at `now`.
 */
export async function notifyCampaignOf(
  env: Env,
  exp: { experimentId: string; campaignId: string; status: string },
  now = Date.now(),
  later?: (task: Promise<void>) => void,
  read?: LiveReads,
): Promise<void> {
  const { campaignId, experimentId } = exp;
  const clock = clockOf(campaignId);
  if (exp.status !== 'verified' && later) {
    if (clock.trailing) return; // an update is due and will read the counts when it runs
    const wait = clock.at + PROGRESS_EVERY_MS - now;
    if (wait > 0) {
      clock.trailing = true;
      later(
        new Promise((resolve) => setTimeout(resolve, wait))
          .then(() => {
            clock.trailing = false;
            return pushProgress(env, campaignId, null, Date.now());
          })
          .finally(() => {
            clock.trailing = false;
          }),
      );
      return;
    }
  }
  await pushProgress(env, campaignId, exp.status === 'verified' ? experimentId : null, now, read);
}

async function pushProgress(
  env: Env,
  campaignId: string,
  verifiedId: string | null,
  now: number,
  read?: LiveReads,
): Promise<void> {
  clockOf(campaignId).at = now;
  const progress = read?.progress ?? (await campaignProgress(env.DB, campaignId, now));
  let event: LiveEvent = { type: 'progress', campaignId, progress };
  if (verifiedId) {
    const [row, curve] = read
      ? [read.row, read.curve]
      : await Promise.all([
          leaderboardEntry(env.DB, verifiedId),
          experimentCurve(env.DB, verifiedId),
        ]);
    if (row && curve) event = { type: 'verified', campaignId, row, curve, progress };
  }
  await hub(env, campaignId).broadcast(event);
}

/** Runs tasks after the response through the execution context's waitUntil; undefined without one. */
export function laterOf(c: Context<AppEnv>): ((task: Promise<void>) => void) | undefined {
  let ctx: Context<AppEnv>['executionCtx'];
  try {
    ctx = c.executionCtx;
  } catch {
    return undefined;
  }
  return (task) =>
    ctx.waitUntil(task.catch((err: unknown) => console.error('campaign live update failed', err)));
}

/**
 * Runs `task` after the response when the runtime offers waitUntil (a live update must not delay
 * or fail a volunteer's submission); without an execution context (app.request in tests) it awaits.
 */
export function afterResponse(c: Context<AppEnv>, task: Promise<unknown>): Promise<void> {
  const safe = task.then(
    () => undefined,
    (err: unknown) => console.error('campaign live update failed', err),
  );
  try {
    c.executionCtx.waitUntil(safe);
    return Promise.resolve();
  } catch {
    return safe;
  }
}
