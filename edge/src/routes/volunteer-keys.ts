// Linking another key to a volunteer (an identity moving to another browser): the request is
// signed by a key the volunteer already holds, and the new key proves possession by signing the
// link payload itself. Private keys never travel through the edge.
import { Hono } from 'hono';
import { verifyCanonical } from '../../../shared/crypto.ts';
import {
  LinkKeyRequest,
  MAX_CLOCK_SKEW_MS,
  MAX_KEYS_PER_VOLUNTEER,
} from '../../../shared/protocol.ts';
import { signedVolunteer } from '../auth.ts';
import { parseBody } from '../body.ts';
import { linkKey } from '../db/volunteers.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { BODY, SIGNED, doc } from '../openapi.ts';

export const volunteerKeys = new Hono<AppEnv>().post(
  '/',
  doc({
    summary:
      "Link another key to the signing volunteer (an identity moved to another browser): signed by a key it holds, with the new key's proof over the link payload.",
    auth: 'volunteer',
    body: LinkKeyRequest,
    errors: [...SIGNED, ...BODY, 'foreign_volunteer', 'key_unavailable'],
  }),
  signedVolunteer,
  async (c) => {
    const { payload, proof } = parseBody(c.get('body'), LinkKeyRequest);
    const volunteer = c.get('volunteer');
    if (payload.volunteerId !== volunteer.id)
      fail(403, 'foreign_volunteer', 'A volunteer can only link keys to itself.');
    if (Math.abs(Date.now() - payload.timestamp) > MAX_CLOCK_SKEW_MS) {
      fail(401, 'stale_timestamp', 'The link timestamp is more than 5 minutes off.');
    }
    if (!(await verifyCanonical(payload.publicKey, proof, payload))) {
      fail(401, 'bad_signature', 'The link is not signed by the key it links.');
    }
    if (
      !(await linkKey(
        c.env.DB,
        volunteer.id,
        payload.publicKey,
        MAX_KEYS_PER_VOLUNTEER,
        Date.now(),
      ))
    ) {
      fail(
        409,
        'key_unavailable',
        `This key already belongs to a volunteer, or this volunteer has ${MAX_KEYS_PER_VOLUNTEER} keys.`,
      );
    }
    return c.json({ volunteerId: volunteer.id, publicKey: payload.publicKey }, 201);
  },
);
