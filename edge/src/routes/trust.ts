// Trust routes: the ledger export, spot-check submissions and the
// checkpoints revealed for them.
import { Hono } from 'hono';
import {
  Id,
  LEASE_TOKEN_HEADER,
  SpotCheckRequest,
  type SpotCheckResponse,
} from '../../../shared/protocol.ts';
import { checkpointUploadRoute, signedResult, signedVolunteer, UPLOAD } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { enterShard, shardBinding } from '../shards.ts';
import { readLedger } from '../ledger.ts';
import { MAX_REVEAL_BYTES } from '../trust/policy.ts';
import { leasedCheckpoint, revealCheckpoint, submitSpotCheck } from '../trust/spot-checks.ts';
import { LEASED, REVEALED, doc } from '../openapi.ts';

const MAX_PAGE = 500;

function nonNegativeInt(
  v: string | undefined,
  fallback: number,
  name: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d{1,15}$/.test(v) || n > max)
    fail(400, 'invalid_request', `The ${name} parameter must be an integer from 0 to ${max}.`);
  return n;
}

/** GET /api/ledger?after=N&limit=M: entries after seq N, oldest first, with the head. */
export const ledger = new Hono<AppEnv>().get(
  '/',
  doc({
    summary:
      'The hash-chained trust ledger (verdicts, credits, revocations, disputes) of one D1 shard (?shard=k, default 0; each shard chains its own campaigns) after ?after=seq, oldest first, ?limit ≤ 500, with the head. Each hash is SHA-256(previous hash ‖ canonical JSON of the entry). Entries sealed into R2 archive segments are served from them, unchanged.',
    errors: ['invalid_request', 'unknown_shard', 'archive_corrupt'],
  }),
  async (c) => {
    const after = nonNegativeInt(c.req.query('after'), 0, 'after');
    const limit = Math.max(1, nonNegativeInt(c.req.query('limit'), 100, 'limit', MAX_PAGE));
    const shard = nonNegativeInt(c.req.query('shard'), 0, 'shard');
    const db = shardBinding(c.env, shard);
    if (!db) fail(404, 'unknown_shard', `This edge has no D1 shard ${shard}.`);
    return c.json(await readLedger(db, c.env.CHECKPOINTS, after, limit));
  },
);

/** POST /api/results/spot-checks: a spot-check lease's outcome, signed like a result. */
export const spotChecks = new Hono<AppEnv>().post(
  '/',
  doc({
    summary:
      "Submit a spot-check lease's outcome (the segment means over [0, toStep)), signed over its canonical JSON. Resubmitting returns duplicate: true.",
    auth: 'volunteer',
    body: SpotCheckRequest,
    errors: [...LEASED, 'spec_mismatch', 'budget_mismatch'],
  }),
  signedVolunteer,
  async (c) => {
    const { result } = await signedResult(c, SpotCheckRequest, 'spot check');
    const volunteer = c.get('volunteer');
    const db = enterShard(c, result.leaseId).DB; // a spot check lives in its result's shard
    const { duplicate } = await submitSpotCheck(db, volunteer.id, result, Date.now());
    return c.json<SpotCheckResponse>(
      { spotCheckId: result.leaseId, duplicate },
      duplicate ? 200 : 201,
    );
  },
);

const SpotCheckId = Id;

/**
 * PUT /api/results/spot-checks/:id/checkpoint: the checked result's volunteer reveals the committed
 * checkpoint. Signed as an upload (auth.ts signedUpload) and looked up before the body is read, which
 * is then streamed with a hard cap and must hash to what was signed, and then to the commitment.
 */
spotChecks.put(
  '/:id/checkpoint',
  doc({
    summary:
      "The checked result's volunteer reveals the committed checkpoint a spot check asked for (application/octet-stream, at most 64 MiB). Signed as an upload: the body's SHA-256 is declared in x-tabgrid-body-sha256 and signed, checked before a byte is read.",
    auth: 'volunteer',
    errors: [...UPLOAD, 'unknown_spot_check', 'foreign_spot_check', ...REVEALED],
  }),
  ...checkpointUploadRoute(
    MAX_REVEAL_BYTES,
    'spot-check',
    async (env, id, volunteerId, read, now) =>
      (await revealCheckpoint(env.DB, env.CHECKPOINTS, id, volunteerId, read, now)).opened,
    (spotCheckId, opened) => ({ spotCheckId, opened }),
  ),
);

/** GET /api/results/spot-checks/:id/checkpoint: the revealed checkpoint, for the leased checker. */
spotChecks.get(
  '/:id/checkpoint',
  doc({
    summary:
      'The revealed checkpoint, for the volunteer the spot check is leased to (its lease token in x-tabgrid-lease-token).',
    errors: [
      'invalid_request',
      'missing_token',
      'unknown_spot_check',
      'foreign_lease',
      'lease_expired',
    ],
  }),
  async (c) => {
    const id = c.req.param('id');
    if (!SpotCheckId.safeParse(id).success)
      fail(400, 'invalid_request', 'A spot-check id is 1–64 letters, digits, _ or -.');
    const token = c.req.header(LEASE_TOKEN_HEADER);
    if (!token)
      fail(401, 'missing_token', `Send the spot check's lease token in ${LEASE_TOKEN_HEADER}.`);
    const db = enterShard(c, id).DB;
    const blob = await leasedCheckpoint(db, c.env.CHECKPOINTS, id, token, Date.now());
    return new Response(blob.body, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(blob.size),
        'cache-control': 'no-store',
      },
    });
  },
);
