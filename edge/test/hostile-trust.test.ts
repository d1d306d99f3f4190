// The trust holes an outside hostile client found (free-riding on pending results, lease hoarding,
// chosen addresses, a trusted-single farm, unauthenticated uploads, bidi names, one key as two
// volunteers), each attempted here against the real app and D1 and refused at its mechanism.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  exportPublicKey,
  generateSigningKey,
  sha256,
  signCanonical,
  volunteerIdFor,
} from '../../shared/crypto.ts';
import {
  LOCAL_FRONT_HEADER as FRONT_HEADER,
  type ExperimentDetail,
  type Lease,
} from '../../shared/protocol.ts';
import { signedHeaders as sign } from '../../shared/signed-request.ts';
import app from '../src/index.ts';
import { MAX_OPEN_LEASES_PER_ADDRESS } from '../src/trust/policy.ts';
import {
  api,
  honestMetrics,
  json,
  newVolunteer,
  readRefusal,
  seedCampaign,
  snapshot,
} from './helpers.ts';
import { peer, put as upload, setRecord } from './trust.ts';

const LEASE_WINDOW_MS = Number(env.LEASE_MIN_SECONDS) * 1000;

async function experiment(id: string): Promise<ExperimentDetail> {
  return ((await (await api(`/api/experiments/${id}`)).json()) as { experiment: ExperimentDetail })
    .experiment;
}

describe('free-riding on published results', () => {
  it('never shows an unsettled result’s metrics, and refuses a result once the others’ are readable', async () => {
    await seedCampaign('c1', 1);
    await env.DB.prepare("UPDATE experiments SET replicas_needed = 3 WHERE id = 'c1-0'").run();
    const [a, b, copier] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    const [la, lb, lc] = [
      (await a.lease('webgpu'))!,
      (await b.lease('wasm'))!,
      (await copier.lease('cpu'))!,
    ];
    expect([la, lb, lc].map((l) => l.experimentId)).toEqual(['c1-0', 'c1-0', 'c1-0']);
    const curve = [3.512345, 3.412345, 3.312345]; // values found nowhere else
    await a.result(la, { ...honestMetrics(la.spec, 3.0123457, 'webgpu'), curve });
    // What the copier can read while the experiment is open: no metric, curve or value anywhere.
    const open = await experiment('c1-0');
    expect(open.replicas.map((r) => r.metrics)).toEqual([null]);
    for (const path of [
      '/api/experiments/c1-0',
      '/api/campaigns/c1/leaderboard',
      '/api/corpus?campaign=c1',
      '/api/campaigns/c1/progress',
      '/api/ledger',
    ]) {
      expect(await (await api(path)).text(), path).not.toMatch(/3\.0123457|3\.512345/);
    }
    // Another backend rounds differently (bit-identical metrics across backends are a copy).
    await b.result(lb, {
      ...honestMetrics(lb.spec, 3.0123467, 'wasm'),
      curve: curve.map((x) => x + 1e-7),
    });
    const verified = await experiment('c1-0');
    expect(verified.status).toBe('verified');
    expect(verified.replicas.map((r) => r.metrics?.valBpb)).toEqual([3.0123457, 3.0123467]); // readable now…
    // …so the third lease, still training, is over: its heartbeat says so and its result is refused.
    const beat = await copier.post(`/api/leases/${lc.leaseId}/heartbeat`, {
      leaseToken: lc.leaseToken,
      step: 10,
      loss: 2,
    });
    expect(beat.status).toBe(409);
    expect((await readRefusal(beat)).error).toBe('lease_expired');
    const before = await snapshot();
    const late = await copier.result(lc, {
      ...verified.replicas[0]!.metrics!,
      backend: 'cpu',
      valBpb: 3.0123457 + 3e-6,
    });
    expect(late.status).toBe(409);
    expect((await readRefusal(late)).error).toBe('experiment_settled');
    expect(await snapshot()).toEqual(before);
  });
});

describe('lease hoarding', () => {
  it('sizes no deadline from a claimed speed: one heartbeat window, extended by heartbeats up to the lifetime', async () => {
    await seedCampaign('c1', 2);
    const hoarder = await newVolunteer();
    const t0 = Date.now();
    const res = await hoarder.post('/api/leases', {
      capabilities: { backend: 'wasm', tokensPerSec: 0.001 },
    });
    const lease = ((await res.json()) as { lease: Lease }).lease;
    expect(lease.deadline - t0).toBeGreaterThanOrEqual(LEASE_WINDOW_MS - 1000);
    expect(lease.deadline - t0).toBeLessThanOrEqual(LEASE_WINDOW_MS + 1000); // not the 2 h a zero speed once bought
    // A heartbeat with most of the window left changes nothing (no write per beat)…
    const beat = async () =>
      (await (
        await hoarder.post(`/api/leases/${lease.leaseId}/heartbeat`, {
          leaseToken: lease.leaseToken,
          step: 1,
          loss: 3,
        })
      ).json()) as { deadline: number };
    expect((await beat()).deadline).toBe(lease.deadline);
    // …and once half of it is gone, one moves it a window on, never past the lifetime.
    await env.DB.prepare('UPDATE leases SET deadline = ?, created_at = ? WHERE id = ?')
      .bind(Date.now() + 1000, Date.now() - 1000, lease.leaseId)
      .run();
    const moved = (await beat()).deadline;
    expect(moved - Date.now()).toBeGreaterThan(LEASE_WINDOW_MS - 5000);
    await env.DB.prepare('UPDATE leases SET deadline = ?, created_at = ? WHERE id = ?')
      .bind(Date.now() + 1000, Date.now() - 3 * 3600_000, lease.leaseId)
      .run();
    expect((await beat()).deadline).toBeLessThan(Date.now() + 2000); // past its lifetime: not extended
  });

  it('bounds the open leases of one address, however many keys it registers', async () => {
    await seedCampaign('c1', 20);
    const keys = await Promise.all(
      Array.from({ length: MAX_OPEN_LEASES_PER_ADDRESS + 2 }, () =>
        peer({ backend: 'wasm' }, '198.51.100.7'),
      ),
    );
    const leases = [];
    for (const k of keys) leases.push(await k.lease());
    expect(leases.filter(Boolean)).toHaveLength(MAX_OPEN_LEASES_PER_ADDRESS);
    expect(await (await peer({ backend: 'wasm' }, '198.51.100.8')).lease()).not.toBeNull(); // another address still gets work
  });
});

describe('client-chosen addresses', () => {
  async function registeredIpHash(
    envOver: Partial<Env>,
    headers: Record<string, string>,
  ): Promise<string | null> {
    const keys = await generateSigningKey();
    const publicKey = await exportPublicKey(keys.publicKey);
    const payload = { type: 'register' as const, publicKey, timestamp: Date.now() };
    const res = await app.request(
      'http://localhost/api/volunteers',
      json({ payload, signature: await signCanonical(keys.privateKey, payload) }, headers),
      { ...env, ...envOver },
    );
    expect(res.status).toBe(201);
    const row = await env.DB.prepare('SELECT ip_hash AS ipHash FROM volunteers WHERE id = ?')
      .bind(await volunteerIdFor(publicKey))
      .first<{ ipHash: string | null }>();
    return row!.ipHash;
  }

  it('believes CF-Connecting-IP from Cloudflare only; locally only from the front with its secret', async () => {
    const secret = 'a-local-front-secret-0123456789';
    const local = { ADDRESS_SOURCE: `front:${secret}` } as unknown as Partial<Env>;
    // Production (wrangler.toml): Cloudflare writes the header.
    expect(await registeredIpHash({}, { 'cf-connecting-ip': '203.0.113.5' })).toMatch(
      /^[0-9a-f]{32}$/,
    );
    // Local: a client naming its own address is nobody's address…
    expect(await registeredIpHash(local, { 'cf-connecting-ip': '203.0.113.5' })).toBeNull();
    expect(
      await registeredIpHash(local, { 'cf-connecting-ip': '203.0.113.5', [FRONT_HEADER]: 'guess' }),
    ).toBeNull();
    // …unless the front that knows the secret says so; and a short secret is no secret.
    expect(
      await registeredIpHash(local, { 'cf-connecting-ip': '203.0.113.5', [FRONT_HEADER]: secret }),
    ).toMatch(/^[0-9a-f]{32}$/);
    const short = { ADDRESS_SOURCE: 'front:short' } as unknown as Partial<Env>;
    expect(
      await registeredIpHash(short, { 'cf-connecting-ip': '203.0.113.5', [FRONT_HEADER]: 'short' }),
    ).toBeNull();
  });
});

describe('a trusted-single farm', () => {
  it('lets no result stand alone before MIN_WITNESSES distinct identities verified the volunteer', async () => {
    await seedCampaign('c1', 4);
    const farmed = await peer({ backend: 'wasm' }, '198.51.100.20');
    // A huge CV makes the replication draw all but certain to let a fresh lease stand alone.
    await setRecord(farmed.id, 'wasm', 1_000_000, 100, 1); // verified by one partner only
    const first = (await farmed.lease())!;
    const single = () =>
      env.DB.prepare('SELECT single FROM leases WHERE id = ?')
        .bind(first.leaseId)
        .first<{ single: number }>();
    expect((await single())!.single).toBe(0);
    await setRecord(farmed.id, 'wasm', 1_000_000, 100); // now five distinct witnesses
    const second = (await farmed.lease())!;
    expect(
      (await env.DB.prepare('SELECT single FROM leases WHERE id = ?')
        .bind(second.leaseId)
        .first<{ single: number }>())!.single,
    ).toBe(1);
  });

  it('never gives a spot check to a volunteer that witnessed the checked one', async () => {
    await seedCampaign('c1', 2);
    // Local browsers (no address): two of them form a quorum without a cold-start third witness.
    const [target, partner, stranger] = [
      await peer({ backend: 'wasm' }),
      await peer({ backend: 'webgpu', spotChecks: true }),
      await peer({ backend: 'cpu', spotChecks: true }),
    ];
    const [lt, lp] = [(await target.lease('c1'))!, (await partner.lease('c1'))!];
    expect(lp.experimentId).toBe(lt.experimentId);
    await target.submit(lt, 3.0);
    await partner.submit(lp, 3.0 + 1e-6);
    const { results } = await env.DB.prepare(
      "SELECT id FROM results WHERE volunteer_id = ? AND verdict = 'valid'",
    )
      .bind(target.id)
      .all<{ id: string }>();
    expect(results).toHaveLength(1);
    await env.DB.prepare(
      `INSERT INTO spot_checks (id, result_id, experiment_id, to_step, expected_json, status, created_at) VALUES ('s_check', ?, ?, 10, '[3.5]', 'open', ?)`,
    )
      .bind(results[0]!.id, lt.experimentId, Date.now())
      .run();
    expect((await partner.lease('c1'))?.kind).not.toBe('spot-check'); // its witness: never its checker
    expect((await stranger.lease('c1'))?.kind).toBe('spot-check');
    // One spot check held at a time: a checker cannot sit on all of them.
    await env.DB.prepare(
      `INSERT INTO spot_checks (id, result_id, experiment_id, to_step, expected_json, status, created_at) VALUES ('s_check2', ?, ?, 20, '[3.5]', 'open', ?)`,
    )
      .bind(results[0]!.id, lt.experimentId, Date.now())
      .run();
    expect((await stranger.lease('c1'))?.kind).not.toBe('spot-check');
  });
});

describe('uploads', () => {
  async function awaitingReveal(): Promise<{
    owner: Awaited<ReturnType<typeof peer>>;
    id: string;
  }> {
    await seedCampaign('c1', 1);
    const owner = await peer({ backend: 'wasm' });
    const l = (await owner.lease())!;
    await owner.submit(l, 3.0);
    const r = await env.DB.prepare('SELECT id FROM results WHERE volunteer_id = ?')
      .bind(owner.id)
      .first<{ id: string }>();
    await env.DB.prepare(
      `INSERT INTO spot_checks (id, result_id, experiment_id, from_step, to_step, commitment, reveal_deadline, expected_json, status, created_at)
       VALUES ('s_reveal', ?, 'c1-0', 10, 20, ?, ?, '[3.4]', 'awaiting-reveal', ?)`,
    )
      .bind(r!.id, 'c'.repeat(64), Date.now() + 60_000, Date.now())
      .run();
    return { owner, id: 's_reveal' };
  }

  /** A body that records whether anything read it. */
  function watchedBody(bytes: number): { body: ReadableStream<Uint8Array>; read: () => boolean } {
    let pulled = false;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulled = true;
          controller.enqueue(new Uint8Array(bytes));
          controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    return { body, read: () => pulled };
  }

  it('authenticates a checkpoint upload and looks its spot check up before reading a byte', async () => {
    const { owner, id } = await awaitingReveal();
    const path = `/api/results/spot-checks/${id}/checkpoint`;
    const put = async (headers: Record<string, string>, bytes = 1 << 20) => {
      const w = watchedBody(bytes);
      const res = await api(path, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', ...headers },
        body: w.body,
        duplex: 'half',
      } as RequestInit);
      return { res, read: w.read() };
    };
    /** An upload's headers signed by `v`, declaring bytes that hash to d…d (not what put sends). */
    const signedBy = (v: { id: string; keys: CryptoKeyPair }) =>
      sign({ volunteerId: v.id, privateKey: v.keys.privateKey }, 'PUT', path, 'd'.repeat(64), {
        upload: true,
      });
    const unsigned = await put({});
    expect([unsigned.res.status, (await readRefusal(unsigned.res)).error, unsigned.read]).toEqual([
      401,
      'missing_signature',
      false,
    ]);
    const other = await newVolunteer();
    const foreign = await put(await signedBy(other));
    expect([foreign.res.status, (await readRefusal(foreign.res)).error, foreign.read]).toEqual([
      403,
      'foreign_spot_check',
      false,
    ]);
    const unknown = await upload(
      owner,
      '/api/results/spot-checks/s_nope/checkpoint',
      new Uint8Array(16),
    );
    expect((await readRefusal(unknown)).error).toBe('unknown_spot_check');
    // The owner, but bytes other than those it signed.
    const mismatch = await put(await signedBy(owner), 64);
    expect([mismatch.res.status, (await readRefusal(mismatch.res)).error]).toEqual([
      422,
      'body_mismatch',
    ]);
  });

  it('cuts a chunked JSON body off at the limit, with no Content-Length to trust', async () => {
    const v = await newVolunteer();
    // A body that never ends: read whole, it would hold the request (and memory) forever.
    let sent = 0;
    const chunks = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          sent += 8192;
          controller.enqueue(new Uint8Array(8192).fill(32));
        },
      },
      { highWaterMark: 0 },
    );
    const headers = await sign(
      { volunteerId: v.id, privateKey: v.keys.privateKey },
      'POST',
      '/api/leases',
      await sha256('{}'),
    );
    const res = await api('/api/leases', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await readRefusal(res)).error).toBe('payload_too_large');
    expect(sent).toBeLessThan(256 * 1024);
  });
});

describe('names and keys', () => {
  it.each([
    ['NUL', 'a\u0000b'],
    ['BEL', 'ding\u0007'],
    ['right-to-left override', 'evil\u202Egnp.exe'],
    ['isolate', '\u2067name'],
  ])('refuses a display name with %s', async (_, displayName) => {
    const keys = await generateSigningKey();
    const payload = {
      type: 'register' as const,
      publicKey: await exportPublicKey(keys.publicKey),
      displayName,
      timestamp: Date.now(),
    };
    const before = await snapshot();
    const res = await api(
      '/api/volunteers',
      json({ payload, signature: await signCanonical(keys.privateKey, payload) }),
    );
    expect(res.status).toBe(400);
    expect((await readRefusal(res)).message).toMatch(/control or invisible formatting/);
    expect(await snapshot()).toEqual(before);
  });

  it('keeps emoji that need a zero-width joiner', async () => {
    const keys = await generateSigningKey();
    const payload = {
      type: 'register' as const,
      publicKey: await exportPublicKey(keys.publicKey),
      displayName: 'dev 👩‍💻',
      timestamp: Date.now(),
    };
    expect(
      (
        await api(
          '/api/volunteers',
          json({ payload, signature: await signCanonical(keys.privateKey, payload) }),
        )
      ).status,
    ).toBe(201);
  });

  it('never registers a key linked to a volunteer as a second volunteer', async () => {
    const owner = await newVolunteer();
    const keys = await generateSigningKey();
    const publicKey = await exportPublicKey(keys.publicKey);
    const link = {
      type: 'link-key' as const,
      volunteerId: owner.id,
      publicKey,
      timestamp: Date.now(),
    };
    expect(
      (
        await owner.post('/api/volunteers/keys', {
          payload: link,
          proof: await signCanonical(keys.privateKey, link),
        })
      ).status,
    ).toBe(201);
    const payload = { type: 'register' as const, publicKey, timestamp: Date.now() };
    const before = await snapshot();
    const res = await api(
      '/api/volunteers',
      json({ payload, signature: await signCanonical(keys.privateKey, payload) }),
    );
    expect(res.status).toBe(409);
    expect((await readRefusal(res)).error).toBe('key_unavailable');
    expect(await snapshot()).toEqual(before);
  });
});
