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
import { insertVolunteer, volunteerExists } from '../db/volunteers.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { volunteerTrustAcross } from '../db/fan-out-volunteers.ts';
import { allShards } from '../shards.ts';
import { ipHash, trustSecrets } from '../trust/secrets.ts';
import { recordRegistrationIp } from '../trust/standing.ts';
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
    // Shard 0 decides; every other shard then gets the same row (shards.ts), so a lease or a result
    // in any campaign finds its volunteer. Idempotent: the web app registers at every start, so a
    // shard a failed call missed is filled by the next one, and a failure here answers 5xx.
    const [home, ...others] = allShards(c.env);
    const created = await insertVolunteer(home!, row);
    if (!created && !(await volunteerExists(home!, volunteerId))) {
      fail(
        409,
        'key_unavailable',
        'This key is linked to another volunteer: it signs as that volunteer and cannot register as a new one.',
      );
    }
    // The salted hash of the registering address: two keys from one address never verify each other.
    // Each shard salts with its own secret, and compares only the hashes it made.
    const ip = clientAddress(c);
    const recordIp = async (db: D1Database, fresh: boolean) => {
      if (fresh && ip)
        await recordRegistrationIp(
          db,
          volunteerId,
          await ipHash((await trustSecrets(db)).ipSalt, ip),
        );
    };
    await recordIp(home!, created);
    await Promise.all(others.map(async (db) => recordIp(db, await insertVolunteer(db, row))));
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
