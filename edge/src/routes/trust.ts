// Trust routes: the ledger export, one volunteer's standing, and spot-check submissions.
import { Hono } from 'hono';
import { verifyCanonical } from '../../../shared/crypto.ts';
import { SpotCheckRequest, VolunteerId, type SpotCheckResponse } from '../../../shared/protocol.ts';
import { signedVolunteer } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { readLedger } from '../ledger.ts';
import { submitSpotCheck } from '../trust/spot-checks.ts';
import { volunteerTrust } from '../trust/standing.ts';

const MAX_PAGE = 500;

function nonNegativeInt(v: string | undefined, fallback: number, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d{1,15}$/.test(v) || n > max) fail(400, 'invalid_request', `The ${name} parameter must be an integer from 0 to ${max}.`);
  return n;
}

/** GET /api/ledger?after=N&limit=M: entries after seq N, oldest first, with the head. */
export const ledger = new Hono<AppEnv>().get('/', async (c) => {
  const after = nonNegativeInt(c.req.query('after'), 0, 'after');
  const limit = Math.max(1, nonNegativeInt(c.req.query('limit'), 100, 'limit', MAX_PAGE));
  return c.json(await readLedger(c.env.DB, after, limit));
});

/** One volunteer's standing, for GET /api/volunteers/:id (routes/volunteers.ts). */
export async function standingHandler(db: D1Database, id: string) {
  if (!VolunteerId.safeParse(id).success) fail(400, 'invalid_request', 'A volunteer id is v_ followed by 32 hex digits.');
  const standing = await volunteerTrust(db, id, Date.now());
  if (!standing) fail(404, 'unknown_volunteer', 'No volunteer is registered with this id.');
  return standing;
}

/** POST /api/results/spot-checks: a spot-check lease's outcome, signed like a result. */
export const spotChecks = new Hono<AppEnv>().post('/', signedVolunteer, async (c) => {
  const { result, signature } = parseBody(c.get('body'), SpotCheckRequest);
  const volunteer = c.get('volunteer');
  if (!(await verifyCanonical(volunteer.publicKey, signature, result))) {
    fail(401, 'bad_signature', 'The spot check is not signed by the submitting volunteer.');
  }
  const { duplicate } = await submitSpotCheck(c.env.DB, volunteer.id, result, Date.now());
  return c.json<SpotCheckResponse>({ spotCheckId: result.leaseId, duplicate }, duplicate ? 200 : 201);
});
