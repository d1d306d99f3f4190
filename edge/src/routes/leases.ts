// Leasing work: a signed volunteer asks for the next experiment and gets a spec, a token and a deadline.
import { Hono, type Context } from 'hono';
import { sha256 } from '../../../shared/crypto.ts';
import {
  HeartbeatRequest,
  Id,
  LeaseRequest,
  type HeartbeatResponse,
  type LeaseResponse,
} from '../../../shared/protocol.ts';
import { guardedBatch, replayed, signedVolunteerGuardedLater, takeReplayGuard } from '../auth.ts';
import { REPLAYED } from '../replay-guard.ts';
import { clientAddress } from '../client-address.ts';
import { parseBody } from '../body.ts';
import type { AppEnv } from '../env.ts';
import { campaignExists, recordHeartbeat } from '../db/leases.ts';
import { attributeLease, partnerExists } from '../db/partners.ts';
import { fail } from '../errors.ts';
import { QueueScheduler } from '../queue/queue-scheduler.ts';
import { BODY, SIGNED, doc } from '../openapi.ts';
import { currentShard, enterShard, envOfId, homeDb } from '../shards.ts';
import { copyVolunteer, volunteerExists } from '../db/volunteers.ts';
import { recordRegistrationAddress } from '../trust/standing.ts';

export const leases = new Hono<AppEnv>();

leases.post(
  '/',
  doc({
    summary:
      'Lease the next experiment: spec, lease token and deadline, or {lease: null, retryAfterSec}.',
    auth: 'volunteer',
    body: LeaseRequest,
    errors: [...SIGNED, ...BODY, 'unknown_campaign', 'unknown_partner', 'uncalibrated_precision'],
  }),
  signedVolunteerGuardedLater,
  async (c) => {
    const req = parseBody(c.get('body'), LeaseRequest);
    // Float16 training paths (WebGL without float32 render targets) have no calibrated tolerance yet:
    // verifying them with float32's would dispute honest work, with a loose one would admit forgeries.
    if (req.capabilities.precision === 'float16') {
      fail(
        422,
        'uncalibrated_precision',
        'Float16 training paths are not accepted until their tolerance is calibrated; use WASM or WebGPU.',
      );
    }
    // A claim naming its campaign works in that campaign's shard (shards.ts); one naming none asks
    // every shard's campaigns (queue-scheduler.ts).
    if (req.campaignId) enterShard(c, req.campaignId);
    if (req.campaignId && !(await campaignExists(c.env.DB, req.campaignId))) {
      fail(404, 'unknown_campaign', `No campaign has the id ${req.campaignId}.`);
    }
    // A widget's lease names its partner site: refused before claiming when it is not registered.
    if (req.partnerId && !(await partnerExists(homeDb(c.env), req.partnerId))) {
      fail(404, 'unknown_partner', `No partner has the id ${req.partnerId}.`);
    }
    // The replay guard rides in the campaign queue's claim batch when the claim names its campaign
    // (as the web app's and the widget's do); otherwise it is recorded first, on its own.
    const inQueue = req.campaignId !== undefined && !req.capabilities.spotChecks;
    if (!inQueue) await guardedBatch(c, []);
    const scheduler = new QueueScheduler(c.env, Number(c.env.LEASE_MIN_SECONDS));
    const claim = {
      volunteerId: c.get('volunteer').id,
      campaignId: req.campaignId,
      capabilities: req.capabilities,
      now: Date.now(),
      ip: clientAddress(c), // two keys from one address never replicate each other
    };
    let lease = await scheduler.claim(claim, inQueue ? takeReplayGuard(c) : undefined);
    // Nothing in a shard whose copy of this volunteer a failed registration missed: copy it from
    // shard 0 and claim once more (the replay guard is recorded already).
    if (lease === null && req.campaignId && (await copiedHere(c)))
      lease = await scheduler.claim(claim);
    if (lease === REPLAYED) replayed();
    if (lease && req.partnerId)
      await attributeLease(envOfId(c.env, lease.leaseId).DB, lease.leaseId, req.partnerId);
    return c.json<LeaseResponse>(lease ? { lease } : { lease: null, retryAfterSec: 30 });
  },
);

/** Whether the volunteer was missing from this request's shard and has just been copied into it. */
async function copiedHere(c: Context<AppEnv>): Promise<boolean> {
  const id = c.get('volunteer').id;
  if (currentShard(c.env) === 0 || (await volunteerExists(c.env.DB, id))) return false;
  if (!(await copyVolunteer(homeDb(c.env), c.env.DB, id))) return false;
  await recordRegistrationAddress(c.env.DB, id, clientAddress(c));
  return true;
}

leases.post(
  '/:id/heartbeat',
  doc({
    summary: 'Report progress (step, loss) and extend the lease deadline.',
    auth: 'volunteer',
    body: HeartbeatRequest,
    errors: [...SIGNED, ...BODY, 'unknown_lease', 'foreign_lease', 'lease_expired'],
  }),
  signedVolunteerGuardedLater,
  async (c) => {
    const leaseId = c.req.param('id');
    if (!Id.safeParse(leaseId).success)
      fail(400, 'invalid_request', 'A lease id is 1–64 letters, digits, _ or -.');
    const beat = parseBody(c.get('body'), HeartbeatRequest);
    // A lease is held by heartbeats, not by a claim: each moves the deadline one window on, up to the
    // lease's lifetime (queue/claim-terms.ts EXTENDED_DEADLINE_SQL). Progress is recorded with every beat.
    const beaten = await recordHeartbeat(enterShard(c, leaseId).DB, (s) => guardedBatch(c, s), {
      leaseId,
      volunteerId: c.get('volunteer').id,
      tokenHash: await sha256(beat.leaseToken),
      step: beat.step,
      loss: beat.loss,
      now: Date.now(),
      windowMs: Number(c.env.LEASE_MIN_SECONDS) * 1000,
    });
    if (beaten === 'unknown') fail(404, 'unknown_lease', 'No lease has this id.');
    if (beaten === 'foreign')
      fail(403, 'foreign_lease', 'This lease was not issued to this volunteer with this token.');
    if (beaten === 'expired') fail(409, 'lease_expired', 'The lease is closed or expired.');
    return c.json<HeartbeatResponse>({ deadline: beaten.deadline });
  },
);
