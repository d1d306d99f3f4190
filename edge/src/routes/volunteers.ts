// Volunteer registration: the browser proves it holds the private key of the public key it sends.
import { Hono } from 'hono';
import { verifyCanonical, volunteerIdFor } from '../../../shared/crypto.ts';
import {
  MAX_CLOCK_SKEW_MS,
  RegisterRequest,
  VolunteerId,
  type RegisterResponse,
  type VolunteerTrust,
} from '../../../shared/protocol.ts';
import { parseBody, readBody } from '../body.ts';
import { clientAddress } from '../client-address.ts';
import { insertVolunteer, rememberRegisteredKey, volunteerExists } from '../db/volunteers.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { volunteerTrustAcross } from '../db/fan-out-volunteers.ts';
import { allShards, volunteerShard } from '../shards.ts';
import { recordRegistrationAddress } from '../trust/standing.ts';
import { BODY, doc } from '../openapi.ts';

export const volunteers = new Hono<AppEnv>().post(
  '/',
  doc({
    summary: 'Register an Ed25519 public key; the volunteer id is derived from it. Idempotent.',
    body: RegisterRequest,
    errors: [...BODY, 'stale_timestamp', 'bad_signature', 'key_unavailable'],
  }),
  async (c) => {
    const { payload, signature } = parseBody(await readBody(c), RegisterRequest);
    if (Math.abs(Date.now() - payload.timestamp) > MAX_CLOCK_SKEW_MS) {
      fail(401, 'stale_timestamp', 'The registration timestamp is more than 5 minutes off.');
    }
    if (!(await verifyCanonical(payload.publicKey, signature, payload))) {
      fail(401, 'bad_signature', 'The registration is not signed by the key it registers.');
    }
    const volunteerId = await volunteerIdFor(payload.publicKey);
    const row = {
      id: volunteerId,
      publicKey: payload.publicKey,
      displayName: payload.displayName ?? null,
      now: Date.now(),
      timestamp: payload.timestamp,
    };
    // Every start of the web app registers again: one read of the shard the id hashes to answers
    // it when nothing changed, so repeats spread over the shards (shards.ts volunteerShard).
    // A replayed older registration changes nothing either, and costs no more than that read.
    const seen = await volunteerShard(c.env, volunteerId)
      .prepare('SELECT display_name AS name, registered_ts AS ts FROM volunteers WHERE id = ?')
      .bind(volunteerId)
      .first<{ name: string | null; ts: number | null }>();
    const unchanged = row.displayName === null || row.displayName === seen?.name;
    if (seen && (unchanged || (seen.ts ?? 0) >= row.timestamp)) {
      rememberRegisteredKey(volunteerId, row.publicKey);
      return c.json<RegisterResponse>({ volunteerId, created: false }, 200);
    }
    // Otherwise shard 0 decides (a key linked to another volunteer is refused), and the row, or its
    // new name, goes to every other shard too, so a lease or a result in any campaign finds it. A
    // shard a failed copy missed is filled by the next registration, or when a claim there finds
    // no volunteer (routes/leases.ts).
    const [home, ...others] = allShards(c.env);
    const created = await insertVolunteer(home!, row);
    if (!created && !(await volunteerExists(home!, volunteerId))) {
      fail(
        409,
        'key_unavailable',
        'This key is linked to another volunteer: it signs as that volunteer and cannot register as a new one.',
      );
    }
    rememberRegisteredKey(volunteerId, row.publicKey);
    // The salted hash of the registering address: two keys from one address never verify each other.
    const ip = clientAddress(c);
    if (created) await recordRegistrationAddress(home!, volunteerId, ip);
    await Promise.all(
      others.map(async (db) => {
        if (await insertVolunteer(db, row)) await recordRegistrationAddress(db, volunteerId, ip);
      }),
    );
    return c.json<RegisterResponse>({ volunteerId, created }, created ? 201 : 200);
  },
);

/** Reputation, credit (total and recent average) and per-backend replication of one volunteer. */
volunteers.get(
  '/:id',
  doc({
    summary:
      "A volunteer's standing: reputation (−100..100), credit (FLOPs verified, and the recent average per day with a 7-day half-life), results by verdict, and per backend class the consecutive verified results that set its replication probability.",
    errors: ['invalid_request', 'unknown_volunteer'],
  }),
  async (c) => {
    const id = c.req.param('id');
    if (!VolunteerId.safeParse(id).success)
      fail(400, 'invalid_request', 'A volunteer id is v_ followed by 32 hex digits.');
    const standing = await volunteerTrustAcross(c.env, id, Date.now()); // every shard's work
    if (!standing) fail(404, 'unknown_volunteer', 'No volunteer is registered with this id.');
    return c.json<VolunteerTrust>(standing);
  },
);
