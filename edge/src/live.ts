// Live campaign pages: the WebSocket upgrade route (mounted before secureHeaders, which throws on a
// 101 response: PITFALLS) and the notification the results route sends after validation.
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { LiveEvent } from '../../shared/protocol.ts';
import { experimentCurve, leaderboardEntry } from './db/leaderboard.ts';
import { campaignProgress } from './db/progress.ts';
import type { AppEnv } from './env.ts';
import { fail } from './errors.ts';
import { ipRateLimit } from './rate-limit.ts';
import { findCampaign } from './routes/campaigns.ts';

function hub(env: Env, campaignId: string) {
  return env.CAMPAIGN_HUB.get(env.CAMPAIGN_HUB.idFromName(campaignId));
}

export const live = new Hono<AppEnv>().get('/:id/live', ipRateLimit, async (c) => {
  const campaign = await findCampaign(c.env.DB, c.req.param('id'));
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
    fail(426, 'upgrade_required', 'This route is a WebSocket: send Upgrade: websocket.');
  }
  return hub(c.env, campaign.id).fetch(c.req.raw);
});

/** Tells the experiment's campaign hub what changed: new progress, and the row if it is verified. */
export async function notifyCampaign(env: Env, experimentId: string, now = Date.now()): Promise<void> {
  const exp = await env.DB.prepare('SELECT campaign_id AS campaignId, status FROM experiments WHERE id = ?')
    .bind(experimentId)
    .first<{ campaignId: string; status: string }>();
  if (!exp) return;
  const { campaignId } = exp;
  const progress = await campaignProgress(env.DB, campaignId, now);
  let event: LiveEvent = { type: 'progress', campaignId, progress };
  if (exp.status === 'verified') {
    const [row, curve] = await Promise.all([leaderboardEntry(env.DB, experimentId), experimentCurve(env.DB, experimentId)]);
    if (row && curve) event = { type: 'verified', campaignId, row, curve, progress };
  }
  await hub(env, campaignId).broadcast(event);
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
