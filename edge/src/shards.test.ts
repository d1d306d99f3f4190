// The sharded path, end to end in workerd with two real D1 databases (vitest.config.ts binds DB_1):
// a campaign in shard 1 is leased, heartbeaten, verified, chained and read without a row of it in
// shard 0, and new campaigns spread over both shards when D1_SHARDS says so.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { signCanonical } from '../../shared/crypto.ts';
import { verifyChain, type LedgerPage, type LedgerRow } from '../../shared/ledger.ts';
import type { ApiError, Campaign, CampaignSnapshot } from '../../shared/protocol.ts';
import { TAU_BPB } from '../../shared/verify.ts';
import { WIDTH_SWEEP } from '../test/campaign-fixtures.ts';
import {
  api,
  getJson,
  honestMetrics,
  insertCampaign,
  json,
  newVolunteer,
  RESEARCHER_TOKEN,
  seedResearcher,
  tinySpec,
} from '../test/helpers.ts';
import app from './index.ts';
import { shardOfId, shardPrefix } from './shards.ts';

const ONE = 'c1_shardone'; // minted in shard 1: its number follows the letter

async function seedInShardOne(experiments = 1): Promise<void> {
  await insertCampaign(env.DB_1, {
    id: ONE,
    name: 'In shard 1',
    brief: 'A campaign of the second shard.',
    template: 'gpt-char',
    datasetId: 'test',
    createdAt: Date.now(),
    specs: Array.from({ length: experiments }, (_, i) => tinySpec(i + 1)),
  });
}

/** The volunteer's registration, sent again (the web app sends it at every start). */
async function registerAgain(v: { client: { publicKey: string }; keys: CryptoKeyPair }) {
  const payload = { type: 'register', publicKey: v.client.publicKey, timestamp: Date.now() };
  return api(
    '/api/volunteers',
    json({ payload, signature: await signCanonical(v.keys.privateKey, payload) }),
  );
}

/** A new volunteer whose id hashes to shard `k` of two (shards.ts volunteerShard). */
async function volunteerOfShard(k: number) {
  for (;;) {
    const v = await newVolunteer();
    if (Number.parseInt(v.id.slice(-8), 16) % 2 === k) return v;
  }
}

async function has(db: D1Database, volunteerId: string): Promise<boolean> {
  return (
    (await db.prepare('SELECT 1 FROM volunteers WHERE id = ?').bind(volunteerId).first()) !== null
  );
}

async function count(db: D1Database, table: string): Promise<number> {
  return (await db.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())!.n;
}

describe('D1 shards', () => {
  it('reads the shard from an id, and only from a number right after its letters', () => {
    expect(shardOfId('c_abc')).toBe(0);
    expect(shardOfId('c1_abc')).toBe(1);
    expect(shardOfId('c12_a-b_c-3')).toBe(12);
    expect(shardOfId('l3_xyz')).toBe(3);
    expect(shardOfId('c0_abc')).toBe(0);
    expect(shardOfId('c1')).toBe(0);
    expect(shardOfId('c1-0')).toBe(0);
    expect(shardOfId('v_0123abcd')).toBe(0);
    expect(shardPrefix('l', 0)).toBe('l_');
    expect(shardPrefix('l', 4)).toBe('l4_');
  });

  it("runs a volunteer's whole loop in the campaign's shard, and nothing of it in shard 0", async () => {
    await seedInShardOne(1);
    // Registration writes every volunteer to every shard.
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    expect(await count(env.DB, 'volunteers')).toBe(2);
    expect(await count(env.DB_1, 'volunteers')).toBe(2);

    const [la, lb] = [(await a.lease('webgpu', ONE))!, (await b.lease('wasm', ONE))!];
    expect(la.leaseId).toMatch(/^l1_/);
    expect(la.experimentId).toBe(`${ONE}-0`);
    const beat = await a.post(`/api/leases/${la.leaseId}/heartbeat`, {
      leaseToken: la.leaseToken,
      step: 10,
      loss: 3.1,
    });
    expect(beat.status).toBe(200);
    expect((await a.result(la, honestMetrics(la.spec, 3.0, 'webgpu'))).status).toBe(201);
    const second = await b.result(lb, honestMetrics(lb.spec, 3.0 + TAU_BPB / 2, 'wasm'));
    expect(await second.json()).toMatchObject({ experimentStatus: 'verified' });

    for (const table of ['leases', 'results', 'ledger', 'ledger_pending', 'experiments']) {
      expect(await count(env.DB, table)).toBe(0);
    }
    expect(await count(env.DB_1, 'leases')).toBe(2);
    const ids = await env.DB_1.prepare('SELECT id FROM results ORDER BY id').all<{ id: string }>();
    expect(ids.results.every((r) => r.id.startsWith('r1_'))).toBe(true);
    // Credits land on the shard's copy of the volunteer.
    const credited = await env.DB_1.prepare('SELECT credit_total AS c FROM volunteers WHERE id = ?')
      .bind(a.id)
      .first<{ c: number }>();
    expect(credited!.c).toBeGreaterThan(0);

    // Shard 1's ledger is a chain of its own, served with ?shard=1; shard 0's is empty.
    const page = await getJson<LedgerPage>('/api/ledger?shard=1&limit=500');
    expect(page.entries.length).toBeGreaterThan(0);
    expect((await verifyChain(page.entries as LedgerRow[])).ok).toBe(true);
    expect((await getJson<LedgerPage>('/api/ledger')).entries).toEqual([]);

    // The campaign's views and the experiment's page read shard 1.
    const snap = await getJson<CampaignSnapshot>(`/api/campaigns/${ONE}/snapshot`);
    expect(snap.campaign).toMatchObject({ id: ONE, experiments: 1, verified: 1 });
    expect(snap.rows).toHaveLength(1);
    const exp = await getJson<{ experiment: { status: string } }>(`/api/experiments/${ONE}-0`);
    expect(exp.experiment.status).toBe('verified');
  });

  it('answers ids of a shard that is not bound, or of the wrong shard, as unknown', async () => {
    await seedInShardOne(1);
    const v = await newVolunteer();
    const unbound = await v.client.post('/api/leases', {
      campaignId: 'c7_nothing',
      capabilities: { backend: 'wasm', precision: 'float32' },
    });
    expect(unbound.status).toBe(404);
    expect(((await unbound.json()) as ApiError).error).toBe('unknown_campaign');
    const lease = (await v.lease('wasm', ONE))!;
    // The same lease id with another shard's number is nobody's lease.
    const moved = lease.leaseId.replace(/^l1_/, 'l_');
    const beat = await v.post(`/api/leases/${moved}/heartbeat`, {
      leaseToken: lease.leaseToken,
      step: 1,
      loss: 3,
    });
    expect(beat.status).toBe(404);
    expect((await getJson<LedgerPage>('/api/ledger?shard=1')).entries).toEqual([]);
    const noShard = await api('/api/ledger?shard=2');
    expect(noShard.status).toBe(404);
    expect(((await noShard.json()) as ApiError).error).toBe('unknown_shard');
  });

  it('copies a volunteer a failed registration left out of a shard when it claims there', async () => {
    await seedInShardOne(1);
    const v = await volunteerOfShard(0);
    // As if the copy into shard 1 had failed: a repeated registration is answered by shard 0,
    // where this volunteer's id hashes, and leaves shard 1 as it is.
    await env.DB_1.prepare('DELETE FROM volunteers WHERE id = ?').bind(v.id).run();
    const again = await registerAgain(v);
    expect(again.status).toBe(200);
    expect(await has(env.DB_1, v.id)).toBe(false);
    const lease = await v.lease('wasm', ONE);
    expect(lease?.leaseId).toMatch(/^l1_/);
    expect(await has(env.DB_1, v.id)).toBe(true);
  });

  it('answers a repeated registration from the shard the id hashes to, or fills that shard', async () => {
    const v = await volunteerOfShard(1);
    const rows = async () => [await has(env.DB, v.id), await has(env.DB_1, v.id)];
    expect(await rows()).toEqual([true, true]);
    await env.DB_1.prepare('DELETE FROM volunteers WHERE id = ?').bind(v.id).run();
    expect((await registerAgain(v)).status).toBe(200);
    expect(await rows()).toEqual([true, true]);
  });

  it("authenticates from the shard a volunteer's id hashes to, and from shard 0 when it lacks the row", async () => {
    await seedInShardOne(1);
    const v = await volunteerOfShard(1);
    expect(await has(env.DB_1, v.id)).toBe(true);
    await env.DB_1.prepare('DELETE FROM volunteers WHERE id = ?').bind(v.id).run();
    const lease = await v.lease('wasm', ONE); // signed: its key is found in shard 0
    expect(lease?.leaseId).toMatch(/^l1_/);
  });

  it('claims in a shard-1 campaign when the volunteer names none', async () => {
    await seedInShardOne(1);
    const v = await newVolunteer();
    const lease = await v.lease('wasm');
    expect(lease?.leaseId).toMatch(/^l1_/);
  });

  it('spreads new campaigns over the open shards, each whole in its own', async () => {
    await seedResearcher();
    const twoShards = { ...env, D1_SHARDS: '2' } as unknown as Env;
    const created: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await app.request(
        'http://localhost/api/campaigns',
        json(
          { ...WIDTH_SWEEP, name: `Sweep ${i}` },
          { authorization: `Bearer ${RESEARCHER_TOKEN}` },
        ),
        twoShards,
      );
      expect(res.status).toBe(201);
      created.push(((await res.json()) as { campaign: Campaign }).campaign.id);
    }
    const inOne = created.filter((id) => id.startsWith('c1_'));
    const inZero = created.filter((id) => id.startsWith('c_'));
    expect(inOne.length + inZero.length).toBe(12);
    expect(inOne.length).toBeGreaterThan(0); // 12 fair draws all alike: p = 2^-11
    expect(inZero.length).toBeGreaterThan(0);
    const rows = async (db: D1Database) =>
      (await db.prepare('SELECT id FROM campaigns ORDER BY id').all<{ id: string }>()).results.map(
        (r) => r.id,
      );
    expect(await rows(env.DB_1)).toEqual([...inOne].sort());
    expect(await rows(env.DB)).toEqual([...inZero].sort());
    // The researcher's copy in shard 1 cannot sign in: it holds no token hash.
    const copy = await env.DB_1.prepare('SELECT token_hash AS t FROM researchers').first<{
      t: string;
    }>();
    expect(copy!.t).toMatch(/^shard-copy:/);
    // With D1_SHARDS at its default, every campaign goes to shard 0.
    const res = await api(
      '/api/campaigns',
      json(WIDTH_SWEEP, { authorization: `Bearer ${RESEARCHER_TOKEN}` }),
    );
    expect(((await res.json()) as { campaign: Campaign }).campaign.id).toMatch(/^c_/);
  });
});
