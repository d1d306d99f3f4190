// A hostile client, case by case (1/2): forged, moved and replayed signatures, and someone else's
// work. Each is refused with a 4xx and a stable code, and leaves every table as it was
// (refusals.ts). The cases the route tests in edge/src/routes/*.test.ts already cover are not
// repeated here; hostile-bodies.test.ts has impossible metrics and malformed bodies.
import { env } from 'cloudflare:test';
import { ExperimentSpec } from '../../shared/spec.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { signCanonical } from '../../shared/crypto.ts';
import type { Lease } from '../../shared/protocol.ts';
import {
  api,
  json,
  newVolunteer,
  resultPayload,
  seedCampaign,
  type TestVolunteer,
} from './helpers.ts';
import { expectRefused, signedInit } from './refusals.ts';
import { tableSnapshot } from './snapshot.ts';

const LEASE_BODY = JSON.stringify({ capabilities: { backend: 'wasm' } });
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

let v: TestVolunteer;
let other: TestVolunteer;
beforeEach(async () => {
  await seedCampaign('c1', 3);
  [v, other] = [await newVolunteer('v'), await newVolunteer('other')];
});

describe('forged and missing signatures', () => {
  it.each(['x-tabgrid-volunteer', 'x-tabgrid-timestamp', 'x-tabgrid-signature'])(
    'refuses a request without %s',
    async (header) => {
      const init = await signedInit(v, '/api/leases', LEASE_BODY);
      delete init.headers[header];
      await expectRefused(() => api('/api/leases', init), 401, 'missing_signature');
    },
  );

  it.each([
    ['not base64url', '!'.repeat(86)],
    ['too short', 'A'.repeat(85)],
    ['padded', 'A'.repeat(86) + '=='],
    ['all zero bytes', 'A'.repeat(86)],
  ])('refuses a signature that is %s', async (_name, signature) => {
    const init = await signedInit(v, '/api/leases', LEASE_BODY);
    init.headers['x-tabgrid-signature'] = signature;
    await expectRefused(() => api('/api/leases', init), 401, 'bad_signature');
  });

  it('refuses a signed request moved to another route', async () => {
    const init = await signedInit(v, '/api/leases', LEASE_BODY);
    await expectRefused(() => api('/api/results', init), 401, 'bad_signature');
  });

  it('refuses a timestamp header that differs from the signed one', async () => {
    const init = await signedInit(v, '/api/leases', LEASE_BODY);
    init.headers['x-tabgrid-timestamp'] = String(Number(init.headers['x-tabgrid-timestamp']) + 1);
    await expectRefused(() => api('/api/leases', init), 401, 'bad_signature');
  });

  it('refuses a timestamp ten minutes in the future', async () => {
    await expectRefused(
      () => v.post('/api/leases', JSON.parse(LEASE_BODY), { timestamp: Date.now() + 600_000 }),
      401,
      'stale_timestamp',
    );
  });

  it("does not let forged requests in a volunteer's name use up its rate limit", async () => {
    // Volunteer ids are public (leaderboards list them); the limit must count only signed requests.
    const forged = {
      'content-type': 'application/json',
      'x-tabgrid-volunteer': v.id,
      'x-tabgrid-signature': 'A'.repeat(86),
    };
    // More than twice the limit (200 per 10 s, wrangler.toml), sent at once: whichever window
    // they land in, one of them would overflow if forged requests counted.
    const flood = Array.from({ length: 450 }, () =>
      api('/api/leases', {
        method: 'POST',
        headers: { ...forged, 'x-tabgrid-timestamp': String(Date.now()) },
        body: LEASE_BODY,
      }),
    );
    const statuses = new Set((await Promise.all(flood)).map((r) => r.status));
    expect([...statuses]).toEqual([401]);
    expect(await v.lease()).not.toBeNull();
  });
});

describe('replayed requests', () => {
  it('refuses a replayed lease request and grants no second lease', async () => {
    const init = await signedInit(v, '/api/leases', LEASE_BODY);
    expect((await api('/api/leases', init)).status).toBe(200);
    await expectRefused(() => api('/api/leases', init), 409, 'replayed_request');
  });

  it('refuses a replayed lease request that names its campaign (the guard rides in the queue)', async () => {
    const body = JSON.stringify({ capabilities: { backend: 'wasm' }, campaignId: 'c1' });
    const init = await signedInit(v, '/api/leases', body);
    const first = await api('/api/leases', init);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { lease: unknown }).lease).not.toBeNull();
    // Sent again, and twice at once: each is refused and no lease is granted.
    await expectRefused(() => api('/api/leases', init), 409, 'replayed_request');
    const both = await Promise.all([api('/api/leases', init), api('/api/leases', init)]);
    expect(both.map((r) => r.status)).toEqual([409, 409]);
    const { n } = (await env.DB.prepare('SELECT count(*) AS n FROM leases WHERE volunteer_id = ?')
      .bind(v.id)
      .first<{ n: number }>())!;
    expect(n).toBe(1);
  });

  it('refuses a replay whose signature is spelled differently but decodes to the same bytes', async () => {
    // 86 base64url characters carry 516 bits for a 64-byte signature: the last 4 are ignored.
    const init = await signedInit(v, '/api/leases', LEASE_BODY);
    expect((await api('/api/leases', init)).status).toBe(200);
    const sig = init.headers['x-tabgrid-signature']!;
    const respelled = sig.slice(0, -1) + BASE64URL[BASE64URL.indexOf(sig.at(-1)!) ^ 1];
    await expectRefused(
      () =>
        api('/api/leases', {
          ...init,
          headers: { ...init.headers, 'x-tabgrid-signature': respelled },
        }),
      409,
      'replayed_request',
    );
  });

  it('refuses a replayed result submission, though a freshly signed resubmission is idempotent', async () => {
    const lease = (await v.lease())!;
    const result = resultPayload(lease);
    const body = JSON.stringify({
      result,
      signature: await signCanonical(v.keys.privateKey, result),
    });
    const init = await signedInit(v, '/api/results', body);
    expect((await api('/api/results', init)).status).toBe(201);
    await expectRefused(() => api('/api/results', init), 409, 'replayed_request');
    expect((await v.post('/api/results', null, { raw: body })).status).toBe(200);
  });

  it('answers a replayed registration as the same volunteer and changes nothing', async () => {
    const { results } = await env.DB.prepare(
      'SELECT public_key AS publicKey FROM volunteers WHERE id = ?',
    )
      .bind(v.id)
      .all<{ publicKey: string }>();
    const payload = {
      type: 'register' as const,
      publicKey: results[0]!.publicKey,
      displayName: 'v',
      timestamp: Date.now(),
    };
    const init = json({ payload, signature: await signCanonical(v.keys.privateKey, payload) });
    const before = await tableSnapshot();
    const res = await api('/api/volunteers', init);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ volunteerId: v.id, created: false });
    expect(await tableSnapshot()).toEqual(before);
  });
});

describe("someone else's lease and experiment", () => {
  let lease: Lease;
  beforeEach(async () => {
    lease = (await v.lease())!;
  });

  it("refuses another volunteer's signed result relayed under one's own request signature", async () => {
    const result = resultPayload(lease);
    const body = JSON.stringify({
      result,
      signature: await signCanonical(v.keys.privateKey, result),
    });
    await expectRefused(
      () => other.post('/api/results', null, { raw: body }),
      401,
      'bad_signature',
      'untouched', // a result's own signature is checked before its guarded batch (auth.ts guardedBatch)
    );
  });

  it('refuses a result that names another experiment than its lease', async () => {
    await expectRefused(
      () => v.result(lease, {}, { experimentId: 'c1-1' }),
      422,
      'spec_mismatch',
      'remembers',
    );
  });

  it("refuses a result carrying another experiment's spec hash, with or without that spec", async () => {
    const row = await env.DB.prepare(
      "SELECT spec_hash AS h, spec_json AS s FROM experiments WHERE id = 'c1-1'",
    ).first<{ h: string; s: string }>();
    expect(row!.h).not.toBe(lease.specHash);
    const other = ExperimentSpec.parse(JSON.parse(row!.s));
    const payload = resultPayload(lease, {}, { specHash: row!.h });
    // Without a spec (an older client): the lease is read first, and refuses it.
    await expectRefused(() => v.client.submitPayload(payload), 422, 'spec_mismatch', 'remembers');
    // With the other experiment's spec, which hashes to what the result signs: the write shares the
    // lease read's batch, and its SQL conditions keep it from writing anything.
    await expectRefused(
      () => v.client.submitPayload(payload, { spec: other }),
      422,
      'spec_mismatch',
      'remembers',
    );
    // With a spec that is not the one the result signs: refused before any D1 call.
    await expectRefused(
      () => v.client.submitPayload(payload, { spec: lease.spec }),
      422,
      'spec_mismatch',
      'untouched',
    );
  });

  it.each([
    ['an upper-case spec hash', { specHash: 'A'.repeat(64) }],
    ['a truncated dataset hash', { datasetSha256: 'a'.repeat(63) }],
  ])('refuses %s as malformed', async (_name, patch) => {
    // Refused before the result's guarded batch, so not remembered (auth.ts guardedBatch).
    await expectRefused(() => v.result(lease, {}, patch), 400, 'invalid_request', 'untouched');
  });
});
