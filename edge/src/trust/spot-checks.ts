// Spot checks: the outcome of a spot-check lease. The checker retrained [0, to_step) from the
// seed; its segment means must match the target result's within TAU_SPOT. A mismatch does not
// convict the target (the checker may be the liar): it reopens the experiment for a quorum.
import { sha256 } from '../../../shared/crypto.ts';
import { spotCheckAgrees } from '../../../shared/commit.ts';
import type { SpotCheckPayload } from '../../../shared/protocol.ts';
import { fail } from '../errors.ts';
import { reopenExperiment } from './audit.ts';

interface SpotRow {
  id: string;
  experimentId: string;
  volunteerId: string | null;
  tokenHash: string | null;
  deadline: number | null;
  status: 'open' | 'leased' | 'passed' | 'failed';
  expectedJson: string;
  specHash: string;
}

export async function submitSpotCheck(db: D1Database, volunteerId: string, p: SpotCheckPayload, now: number): Promise<{ duplicate: boolean; passed: boolean }> {
  const s = await db
    .prepare(
      `SELECT s.id, s.experiment_id AS experimentId, s.volunteer_id AS volunteerId, s.token_hash AS tokenHash, s.deadline,
         s.status, s.expected_json AS expectedJson, e.spec_hash AS specHash
       FROM spot_checks s JOIN experiments e ON e.id = s.experiment_id WHERE s.id = ?`,
    )
    .bind(p.leaseId)
    .first<SpotRow>();
  if (!s) fail(404, 'unknown_lease', 'No spot-check lease has this id.');
  if (s.volunteerId !== volunteerId || s.tokenHash !== (await sha256(p.leaseToken))) {
    fail(403, 'foreign_lease', 'This spot check was not leased to this volunteer with this token.');
  }
  if (s.status === 'passed' || s.status === 'failed') return { duplicate: true, passed: s.status === 'passed' };
  if ((s.deadline ?? 0) <= now) fail(409, 'lease_expired', 'The spot-check lease expired before its result arrived.');
  if (s.specHash !== p.specHash) fail(422, 'spec_mismatch', 'The spot check was computed for another spec.');
  const expected = JSON.parse(s.expectedJson) as number[];
  if (p.curve.length !== expected.length) fail(422, 'budget_mismatch', `The spot check covers ${expected.length} loss-curve segments.`);
  const passed = spotCheckAgrees(expected, p.curve);
  await db.batch([
    db.prepare("UPDATE spot_checks SET status = ?, observed_json = ?, decided_at = ? WHERE id = ? AND status = 'leased'")
      .bind(passed ? 'passed' : 'failed', JSON.stringify(p.curve), now, s.id),
    ...(passed ? [] : [reopenExperiment(db, s.experimentId, now)]),
  ]);
  return { duplicate: false, passed };
}
