// Lease rows outside the claim (the claim is the campaign queue's: queue/): whether a named campaign
// exists, and recording a heartbeat.
import { EXTENDED_DEADLINE_SQL } from '../queue/claim-terms.ts';

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

/** What a heartbeat found: the lease's deadline after it, or why it was refused. */
export type Beat = { deadline: number } | 'unknown' | 'foreign' | 'expired';

/**
 * A heartbeat in one D1 call, `batch` (the route's, which carries the request's replay guard: a
 * heartbeat every 30 s per training volunteer is most of D1's load at scale, docs/scale.md). On the holder's own lease — its volunteer and token hash — while open and
 * live: move the deadline when EXTENDED_DEADLINE_SQL is at least half a window (`windowMs`) past it
 * (naming the deadline fires the campaign queue's change trigger, so only then), and record the
 * progress. Then read the lease back: no row is `unknown`, another holder `foreign`, closed or past
 * its deadline `expired` — and then neither update changed anything.
 */
export async function recordHeartbeat(
  db: D1Database,
  batch: (statements: D1PreparedStatement[]) => Promise<D1Result[]>,
  b: {
    leaseId: string;
    volunteerId: string;
    tokenHash: string;
    step: number;
    loss: number;
    now: number;
    windowMs: number;
  },
): Promise<Beat> {
  const own = `id = ?1 AND volunteer_id = ?2 AND token_hash = ?3 AND status = 'open' AND deadline > ?4`;
  const [, , read] = await batch([
    db
      .prepare(
        `UPDATE leases SET deadline = ${EXTENDED_DEADLINE_SQL}
         WHERE ${own} AND ${EXTENDED_DEADLINE_SQL} - deadline >= ?5 / 2.0`,
      )
      .bind(b.leaseId, b.volunteerId, b.tokenHash, b.now, b.windowMs),
    db
      .prepare(`UPDATE leases SET last_step = ?5, last_loss = ?6, heartbeat_at = ?4 WHERE ${own}`)
      .bind(b.leaseId, b.volunteerId, b.tokenHash, b.now, b.step, b.loss),
    db
      .prepare(
        'SELECT volunteer_id AS volunteerId, token_hash AS tokenHash, status, deadline FROM leases WHERE id = ?',
      )
      .bind(b.leaseId),
  ]);
  const lease = read!.results[0] as
    { volunteerId: string; tokenHash: string; status: string; deadline: number } | undefined;
  if (!lease) return 'unknown';
  if (lease.volunteerId !== b.volunteerId || lease.tokenHash !== b.tokenHash) return 'foreign';
  if (lease.status !== 'open' || lease.deadline <= b.now) return 'expired';
  return { deadline: lease.deadline };
}
