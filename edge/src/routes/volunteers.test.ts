import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  exportPublicKey,
  generateSigningKey,
  signCanonical,
  volunteerIdFor,
} from '../../../shared/crypto.ts';
import { api, json, snapshot } from '../../test/helpers.ts';

async function registration(overrides: Record<string, unknown> = {}) {
  const keys = await generateSigningKey();
  const publicKey = await exportPublicKey(keys.publicKey);
  const payload = {
    type: 'register',
    publicKey,
    displayName: 'Ada',
    timestamp: Date.now(),
    ...overrides,
  };
  return { keys, publicKey, payload, signature: await signCanonical(keys.privateKey, payload) };
}

describe('POST /api/volunteers', () => {
  it('registers a key and derives the volunteer id from it, idempotently', async () => {
    const r = await registration();
    const first = await api(
      '/api/volunteers',
      json({ payload: r.payload, signature: r.signature }),
    );
    expect(first.status).toBe(201);
    const body = (await first.json()) as { volunteerId: string; created: boolean };
    expect(body).toEqual({ volunteerId: await volunteerIdFor(r.publicKey), created: true });
    const again = await api(
      '/api/volunteers',
      json({ payload: r.payload, signature: r.signature }),
    );
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ volunteerId: body.volunteerId, created: false });
  });

  it('lets the key holder change its display name by registering again, signed', async () => {
    const r = await registration();
    await api('/api/volunteers', json({ payload: r.payload, signature: r.signature }));
    const renamed = { ...r.payload, displayName: 'Grace', timestamp: r.payload.timestamp + 1 };
    const res = await api(
      '/api/volunteers',
      json({ payload: renamed, signature: await signCanonical(r.keys.privateKey, renamed) }),
    );
    expect(res.status).toBe(200);
    const name = async () =>
      (
        await env.DB.prepare('SELECT display_name AS name FROM volunteers WHERE public_key = ?')
          .bind(r.publicKey)
          .first<{ name: string }>()
      )?.name;
    expect(await name()).toBe('Grace');
    // Replaying the older signed registration does not roll the name back.
    await api('/api/volunteers', json({ payload: r.payload, signature: r.signature }));
    expect(await name()).toBe('Grace');
  });

  const refusals: [string, () => Promise<RequestInit>, number, string][] = [
    [
      'a body that is not JSON',
      async () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
      400,
      'invalid_json',
    ],
    [
      'a wrong content type',
      async () => ({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }),
      415,
      'unsupported_media_type',
    ],
    [
      'a missing public key',
      async () =>
        json({ payload: { type: 'register', timestamp: Date.now() }, signature: 'x'.repeat(86) }),
      400,
      'invalid_request',
    ],
    [
      'a display name over 40 characters',
      async () => {
        const r = await registration({ displayName: 'x'.repeat(41) });
        return json({ payload: r.payload, signature: r.signature });
      },
      400,
      'invalid_request',
    ],
    [
      'a signature by another key',
      async () => {
        const r = await registration();
        const other = await generateSigningKey();
        return json({
          payload: r.payload,
          signature: await signCanonical(other.privateKey, r.payload),
        });
      },
      401,
      'bad_signature',
    ],
    [
      'a stale timestamp',
      async () => {
        const r = await registration({ timestamp: Date.now() - 3_600_000 });
        return json({ payload: r.payload, signature: r.signature });
      },
      401,
      'stale_timestamp',
    ],
    [
      'an oversized body',
      async () => ({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'x'.repeat(70_000) }),
      }),
      413,
      'payload_too_large',
    ],
  ];

  it.each(refusals)('refuses %s and changes nothing', async (_name, init, status, code) => {
    const before = await snapshot();
    const res = await api('/api/volunteers', await init());
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe(code);
    expect(body.message.length).toBeGreaterThan(10);
    expect(await snapshot()).toEqual(before);
  });
});
