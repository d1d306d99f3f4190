// Linking keys: an identity moves to another browser by linking a new key, proven by both keys;
// the linked key then signs requests for the same volunteer. Every refusal changes nothing.
import { describe, expect, it } from 'vitest';
import { generateSigningKey, signCanonical } from '../../../shared/crypto.ts';
import { SIGNATURE_HEADERS, type LinkKeyPayload } from '../../../shared/protocol.ts';
import { linkKeyRequest } from '../../../shared/volunteer-client.ts';
import {
  api,
  newVolunteer,
  seedCampaign,
  signedHeaders,
  snapshot,
  type TestVolunteer,
} from '../../test/helpers.ts';

async function linkRequest(
  v: TestVolunteer,
  overrides: Partial<LinkKeyPayload> = {},
  proofKeys?: CryptoKeyPair,
) {
  const keys = await generateSigningKey();
  const link = await linkKeyRequest(v.id, keys);
  // Overrides and another proof key forge it: the payload is signed again.
  const payload = { ...link.payload, ...overrides };
  const proof = await signCanonical((proofKeys ?? keys).privateKey, payload);
  return { keys, publicKey: link.payload.publicKey, body: { payload, proof } };
}

describe('POST /api/volunteers/keys', () => {
  it('links a key that then signs requests for the same volunteer', async () => {
    await seedCampaign('keys', 1);
    const v = await newVolunteer();
    const link = await linkRequest(v);
    const res = await v.post('/api/volunteers/keys', link.body);
    expect(res.status).toBe(201);

    const body = JSON.stringify({ campaignId: 'keys', capabilities: { backend: 'wasm' } });
    const headers = {
      ...(await signedHeaders(v.id, link.keys, 'POST', '/api/leases', body)),
      [SIGNATURE_HEADERS.key]: link.publicKey,
    };
    const lease = await api('/api/leases', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    expect(lease.status).toBe(200);
    expect(((await lease.json()) as { lease: { leaseId: string } | null }).lease).not.toBeNull();

    // Without the key header, the registered key is expected: the new key's signature fails.
    const plain = await signedHeaders(v.id, link.keys, 'POST', '/api/leases', body);
    const refused = await api('/api/leases', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...plain },
      body,
    });
    expect(refused.status).toBe(401);
  });

  it('accepts a key linked after it was refused (auth caches only keys it found)', async () => {
    await seedCampaign('keys', 1);
    const v = await newVolunteer();
    const link = await linkRequest(v);
    const lease = async () => {
      const body = JSON.stringify({ campaignId: 'keys', capabilities: { backend: 'wasm' } });
      const headers = {
        ...(await signedHeaders(v.id, link.keys, 'POST', '/api/leases', body)),
        [SIGNATURE_HEADERS.key]: link.publicKey,
      };
      return api('/api/leases', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    };
    expect((await lease()).status).toBe(401); // not linked yet
    expect((await v.post('/api/volunteers/keys', link.body)).status).toBe(201);
    expect((await lease()).status).toBe(200);
    expect((await lease()).status).toBe(200); // and again, from the cache
  });

  it('refuses a key that does not belong to the volunteer named in the headers', async () => {
    const v = await newVolunteer();
    const other = await newVolunteer();
    const body = JSON.stringify({ capabilities: { backend: 'wasm' } });
    const headers = {
      ...(await signedHeaders(v.id, other.keys, 'POST', '/api/leases', body)),
      [SIGNATURE_HEADERS.key]: other.publicKey,
    };
    const res = await api('/api/leases', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('unknown_volunteer');
  });

  const refusals: [string, (v: TestVolunteer) => Promise<{ body: unknown }>, number, string][] = [
    [
      'a proof signed by another key',
      async (v) => linkRequest(v, {}, await generateSigningKey()),
      401,
      'bad_signature',
    ],
    [
      'a link for another volunteer',
      async (v) => linkRequest(v, { volunteerId: (await newVolunteer()).id }),
      403,
      'foreign_volunteer',
    ],
    [
      'a stale link',
      async (v) => linkRequest(v, { timestamp: Date.now() - 3_600_000 }),
      401,
      'stale_timestamp',
    ],
    [
      'a key already registered by someone',
      async (v) => ({ body: await linkKeyRequest(v.id, (await newVolunteer()).keys) }),
      409,
      'key_unavailable',
    ],
  ];

  it.each(refusals)('refuses %s and changes nothing', async (_name, make, status, code) => {
    const v = await newVolunteer();
    const { body } = await make(v);
    const before = await snapshot();
    const res = await v.post('/api/volunteers/keys', body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toBe(code);
    expect(await snapshot()).toEqual(before); // (the replay guard's memory aside)
  });

  it('caps the number of keys per volunteer', async () => {
    const v = await newVolunteer();
    const codes: number[] = [];
    for (let i = 0; i < 8; i++)
      codes.push((await v.post('/api/volunteers/keys', (await linkRequest(v)).body)).status);
    expect(codes.slice(0, 7)).toEqual(Array(7).fill(201));
    expect(codes[7]).toBe(409);
  });
});
