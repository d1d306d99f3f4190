// Volunteer request signatures: Ed25519 over the canonical JSON of method, path, timestamp and the
// SHA-256 of the body bytes, so a request cannot be altered or moved to another route.
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { fromBase64Url, sha256, verifyCanonical } from '../../shared/crypto.ts';
import {
  Id,
  MAX_CLOCK_SKEW_MS,
  PublicKey,
  SIGNATURE_HEADERS,
  VolunteerId,
  signedRequestPayload,
} from '../../shared/protocol.ts';
import type { z } from 'zod';
import { parseBody, readBody, readCapped } from './body.ts';
import type { AppEnv, SignedVolunteer } from './env.ts';
import { fail } from './errors.ts';
import { findVolunteer } from './db/volunteers.ts';
import { limitVolunteer } from './rate-limit.ts';
import { guardExpiry, guardInsert } from './replay-guard.ts';
import { enterShard, homeDb, volunteerShard } from './shards.ts';

/** A signed JSON request: the body is read (size-limited) and its hash is what was signed. */
export const signedVolunteer = createMiddleware<AppEnv>(async (c, next) => {
  const body = c.req.method === 'GET' ? '' : await readBody(c);
  c.set('volunteer', await authenticate(c, () => sha256(body)));
  await guardedBatch(c, []);
  c.set('body', body);
  await next();
});

/**
 * signedVolunteer for a hot route whose first D1 call is a batch: the replay guard is not run here
 * but rides in that batch (guardedBatch), one D1 call fewer. The route must make guardedBatch its
 * first D1 call and write nothing before it (edge/src/routes/results.ts, the heartbeat).
 */
export const signedVolunteerGuardedLater = createMiddleware<AppEnv>(async (c, next) => {
  const body = await readBody(c);
  c.set('volunteer', await authenticate(c, () => sha256(body)));
  c.set('body', body);
  await next();
});

/**
 * Runs `statements` in one batch after this request's replay guard and returns their results. The
 * guard is a plain INSERT of the signature's hash, so a replay fails the whole batch — nothing in
 * it happens — and is answered 409 `replayed_request`. Entries older than twice the clock-skew
 * window go in the same batch, since a request that old is refused as stale anyway. Once per request.
 */
export async function guardedBatch(
  c: Context<AppEnv>,
  statements: D1PreparedStatement[],
): Promise<D1Result[]> {
  const signatureHash = c.get('replayGuard');
  if (!signatureHash) throw new Error('guardedBatch: no replay guard is due on this request');
  c.set('replayGuard', null);
  const db = c.env.DB;
  const now = Date.now();
  try {
    const results = await db.batch([
      guardInsert(db, signatureHash, now),
      guardExpiry(db, now),
      ...statements,
    ]);
    return results.slice(2);
  } catch (e) {
    if (/constraint failed: seen_requests\.signature_hash/i.test(String(e))) replayed();
    throw e;
  }
}

/**
 * Hands this request's replay guard to a caller that records it elsewhere (the campaign queue's
 * claim batch: queue/campaign-queue.ts), which must answer REPLAYED when it was recorded before.
 */
export function takeReplayGuard(c: Context<AppEnv>): string {
  const signatureHash = c.get('replayGuard');
  if (!signatureHash) throw new Error('takeReplayGuard: no replay guard is due on this request');
  c.set('replayGuard', null);
  return signatureHash;
}

export function replayed(): never {
  fail(409, 'replayed_request', 'This signed request was already received once.');
}

/**
 * A signed upload: authenticated before a byte of the body is read, on the SHA-256 it declares in
 * SIGNATURE_HEADERS.bodySha256 (signed like any body hash); the route reads the body with a hard
 * cap and refuses it unless its bytes hash to that (c.get('bodySha256')).
 */
export const signedUpload = createMiddleware<AppEnv>(async (c, next) => {
  const declared = c.req.header(SIGNATURE_HEADERS.bodySha256) ?? '';
  const valid = async () => {
    if (!/^[0-9a-f]{64}$/.test(declared))
      fail(
        401,
        'missing_signature',
        `Signed uploads declare the body's SHA-256 (64 hex digits) in ${SIGNATURE_HEADERS.bodySha256}.`,
      );
    return declared;
  };
  c.set('volunteer', await authenticate(c, valid));
  await guardedBatch(c, []);
  c.set('bodySha256', declared);
  await next();
});

/**
 * The volunteer and its signing key. Every shard holds a copy of each volunteer's row (shards.ts),
 * so the registered key is read from the shard the volunteer's id hashes to, spreading these reads
 * over all shards; shard 0, which also holds the linked keys and every volunteer, answers a miss.
 */
async function authenticatingVolunteer(env: Env, id: string, key?: string) {
  const spread = volunteerShard(env, id);
  const found = await findVolunteer(spread, id, key);
  if (found || spread === homeDb(env)) return found;
  return findVolunteer(homeDb(env), id, key);
}

async function authenticate(
  c: Context<AppEnv>,
  bodySha256: () => Promise<string>,
): Promise<SignedVolunteer> {
  const id = c.req.header(SIGNATURE_HEADERS.volunteer);
  const ts = c.req.header(SIGNATURE_HEADERS.timestamp);
  const signature = c.req.header(SIGNATURE_HEADERS.signature);
  if (!id || !ts || !signature) {
    fail(
      401,
      'missing_signature',
      'Volunteer requests must be signed (x-tabgrid-volunteer, -timestamp, -signature).',
    );
  }
  if (!VolunteerId.safeParse(id).success)
    fail(401, 'unknown_volunteer', 'The volunteer id is malformed.');
  const timestamp = Number(ts);
  if (!Number.isSafeInteger(timestamp) || Math.abs(Date.now() - timestamp) > MAX_CLOCK_SKEW_MS) {
    fail(401, 'stale_timestamp', 'The request timestamp is missing or more than 5 minutes off.');
  }
  const key = c.req.header(SIGNATURE_HEADERS.key);
  if (key !== undefined && !PublicKey.safeParse(key).success)
    fail(401, 'unknown_volunteer', 'The signing key header is malformed.');
  const volunteer = await authenticatingVolunteer(c.env, id, key);
  if (!volunteer)
    fail(401, 'unknown_volunteer', 'No volunteer is registered with this id and key.');
  const path = new URL(c.req.url).pathname;
  const payload = signedRequestPayload(c.req.method, path, timestamp, await bodySha256());
  if (!(await verifyCanonical(volunteer.publicKey, signature, payload))) {
    fail(401, 'bad_signature', 'The request signature does not verify with the registered key.');
  }
  // Only now is the volunteer known: volunteer ids are public, so forged requests must not spend
  // the real volunteer's allowance (the per-IP limit covers them).
  await limitVolunteer(c.env, id);
  // Replay guard (guardedBatch): a signature is accepted once. Keyed on the signature's 64 bytes, not
  // its text: 86 base64url characters carry 4 spare bits, so 16 spellings decode to the same signature.
  c.set('replayGuard', await sha256(fromBase64Url(signature)));
  return volunteer;
}

/**
 * The body of a signed request that carries its own signed `result` (a result, a spot check's
 * outcome): parsed with `schema`, and the result's signature checked with the request's key, so a
 * stored result can be verified later without the request around it.
 */
export async function signedResult<R, S extends z.ZodType<{ result: R; signature: string }>>(
  c: Context<AppEnv>,
  schema: S,
  what: string,
): Promise<z.infer<S>> {
  const body = parseBody(c.get('body'), schema);
  if (!(await verifyCanonical(c.get('volunteer').publicKey, body.signature, body.result))) {
    fail(401, 'bad_signature', `The ${what} is not signed by the submitting volunteer.`);
  }
  return body;
}

/** Refusals of a signed checkpoint upload (checkpointUpload), for the routes' documentation. */
export const UPLOAD = [
  ...['missing_signature', 'stale_timestamp', 'bad_signature', 'unknown_volunteer'],
  ...['replayed_request', 'rate_limited', 'invalid_request', 'unsupported_media_type'],
  ...['payload_too_large', 'body_mismatch'],
];

/**
 * A checkpoint's upload (application/octet-stream, at most `max` bytes), signed as an upload
 * (signedUpload): the type and declared length are checked before the signature, and
 * c.get('readUpload') streams the body with a hard cap and refuses bytes that do not hash to what
 * was signed. Routes look their target up before they call it, so nothing unauthorised is read.
 */
export function checkpointUpload(max: number) {
  return [
    createMiddleware<AppEnv>(async (c, next) => {
      if (!/^application\/octet-stream\b/i.test(c.req.header('content-type') ?? ''))
        fail(415, 'unsupported_media_type', 'Send the checkpoint as application/octet-stream.');
      if (Number(c.req.header('content-length') ?? 0) > max)
        fail(413, 'payload_too_large', `Checkpoints are limited to ${max} bytes.`);
      await next();
    }),
    signedUpload,
    createMiddleware<AppEnv>(async (c, next) => {
      c.set('readUpload', async () => {
        const bytes = await readCapped(c, max);
        if ((await sha256(bytes)) !== c.get('bodySha256'))
          fail(422, 'body_mismatch', 'The uploaded bytes do not hash to the signed SHA-256.');
        return bytes;
      });
      await next();
    }),
  ] as const;
}

/** Takes an uploaded checkpoint for the target `id`: true when the bytes were stored now. */
export type TakeUpload = (
  env: Env,
  id: string,
  volunteerId: string,
  read: () => Promise<Uint8Array>,
  now: number,
) => Promise<boolean>;

/**
 * A signed checkpoint upload to `/:id/checkpoint` whole: checkpointUpload's checks, the id (`what`
 * names it in the refusal), then `take`; 201 with `answer` when it stored the bytes, 200 when they
 * were there already.
 */
export function checkpointUploadRoute(
  max: number,
  what: string,
  take: TakeUpload,
  answer: (id: string, stored: boolean) => Record<string, unknown>,
) {
  return [
    ...checkpointUpload(max),
    async (c: Context<AppEnv>) => {
      const id = c.req.param('id') ?? '';
      if (!Id.safeParse(id).success)
        fail(400, 'invalid_request', `A ${what} id is 1–64 letters, digits, _ or -.`);
      // The id names its shard (a result's, a spot check's: shards.ts).
      const env = enterShard(c, id);
      const stored = await take(env, id, c.get('volunteer').id, c.get('readUpload'), Date.now());
      return c.json(answer(id, stored), stored ? 201 : 200);
    },
  ] as const;
}
