// Lease rows outside the claim (the claim is the campaign queue's: queue/): whether a named campaign
// exists, the lease a heartbeat names, and recording the heartbeat.

/** Most campaign ids remembered per isolate; past it the oldest goes. */
const MAX_KNOWN_CAMPAIGNS = 1000;

/**
 * Per isolate: campaigns known to exist. Safe to keep, because nothing deletes a campaign; only
 * found ids are kept, so a campaign created after a miss is found on the next request.
 */
const knownCampaigns = new Set<string>();

export async function campaignExists(db: D1Database, id: string): Promise<boolean> {
  if (knownCampaigns.has(id)) return true;
  if (!(await db.prepare('SELECT 1 FROM campaigns WHERE id = ?').bind(id).first())) return false;
  if (knownCampaigns.size >= MAX_KNOWN_CAMPAIGNS)
    knownCampaigns.delete(knownCampaigns.values().next().value!);
  knownCampaigns.add(id);
  return true;
}

export interface HeartbeatLease {
  volunteerId: string;
  tokenHash: string;
  deadline: number;
  status: string;
  createdAt: number;
  tokens: number; // the experiment's: its lifetime follows from them
}

export function heartbeatLease(db: D1Database, leaseId: string): Promise<HeartbeatLease | null> {
  return db
    .prepare(
      `SELECT l.volunteer_id AS volunteerId, l.token_hash AS tokenHash, l.deadline, l.status, l.created_at AS createdAt, e.tokens
       FROM leases l JOIN experiments e ON e.id = l.experiment_id WHERE l.id = ?`,
    )
    .bind(leaseId)
    .first<HeartbeatLease>();
}

/**
 * Records a heartbeat's progress and, when `deadline` is given, moves the deadline; only while the
 * lease is still open and live (it may have finished or expired since it was read, and a claim that
 * saw it expire may hold its slot already). False when it was not.
 */
export async function recordHeartbeat(
  db: D1Database,
  leaseId: string,
  beat: { step: number; loss: number },
  now: number,
  deadline: number | null,
): Promise<boolean> {
  // The deadline is set only when it moves: naming it fires the campaign queue's change trigger.
  const set = deadline === null ? '' : `deadline = ${Math.trunc(deadline)}, `;
  const updated = await db
    .prepare(
      `UPDATE leases SET ${set}last_step = ?, last_loss = ?, heartbeat_at = ? WHERE id = ? AND status = 'open' AND deadline > ?`,
    )
    .bind(beat.step, beat.loss, now, leaseId, now)
    .run();
  return updated.meta.changes > 0;
}
