// The campaign queue in real workerd: its copy of D1 follows every writer (routes, validator,
// audits, direct SQL), concurrent claims never share a replica slot, and a restarted or wiped
// object picks up where D1 is. scheduler.test.ts and routes/leases.test.ts run the trust rules
// through whichever scheduler wrangler.toml selects.
import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../../../shared/protocol.ts';
import { Rng } from '../../../shared/rng.ts';
import { newVolunteer, seedCampaign, type TestVolunteer } from '../../test/helpers.ts';
import { peer, setRecord, type Peer } from '../../test/trust.ts';
import { D1Claim } from '../../test/d1-claim.ts';
import { reopenExperiment } from '../trust/audit.ts';
import {
  CV_TRUSTED,
  RELIABLE_FIRST_MS,
  RELIABLE_REPUTATION,
  STEER_WAIT_MS,
} from '../trust/policy.ts';
import { QueueScheduler, campaignQueue } from './queue-scheduler.ts';
import type { CampaignQueue } from './campaign-queue.ts';

const scheduler = new QueueScheduler(env, 600);

/** A claim straight through the queue scheduler (the route may run the D1 scheduler). */
function claim(v: TestVolunteer | { id: string }, campaignId?: string) {
  return scheduler.claim({
    volunteerId: v.id,
    campaignId,
    capabilities: { backend: 'wasm', tokensPerSec: 5000 },
    now: Date.now(),
  });
}

/**
 * The queue's copy equals D1 after a sync: the campaign's open experiments with the columns the
 * claim reads, and every lease on them. A ranking for nobody syncs without claiming.
 */
async function expectInStep(campaignId: string): Promise<void> {
  const queue = campaignQueue(env, campaignId);
  await queue.best({
    campaignId,
    req: { volunteerId: 'v_nobody', capabilities: { backend: 'wasm' }, now: Date.now() },
    minLeaseMs: 0,
  });
  const held = await queue.held();
  const exps = await env.DB.prepare(
    `SELECT id, replicas_needed AS replicasNeeded, reissued_at AS reissuedAt, audit, quorum FROM experiments
     WHERE campaign_id = ? AND status = 'open' ORDER BY id`,
  )
    .bind(campaignId)
    .all();
  const leases = await env.DB.prepare(
    `SELECT l.id, l.experiment_id AS experimentId, l.status, l.deadline, l.single FROM leases l JOIN experiments e ON e.id = l.experiment_id
     WHERE e.campaign_id = ? AND e.status = 'open' ORDER BY l.id`,
  )
    .bind(campaignId)
    .all();
  expect(held.experiments).toEqual(exps.results);
  expect(held.leases).toEqual(leases.results);
}

describe('the campaign queue', () => {
  it('never hands out a replica slot twice under 60 concurrent claims, and D1 gets every lease', async () => {
    await seedCampaign('c1', 5); // 10 replica slots
    const fleet = await Promise.all(Array.from({ length: 60 }, () => newVolunteer()));
    const leases = (await Promise.all(fleet.map((v) => claim(v, 'c1')))).filter((l) => l !== null);
    expect(leases).toHaveLength(10);
    const perExperiment = new Map<string, Set<string>>();
    for (const l of leases)
      perExperiment.set(
        l.experimentId,
        (perExperiment.get(l.experimentId) ?? new Set()).add(l.leaseId),
      );
    expect([...perExperiment.values()].map((s) => s.size)).toEqual([2, 2, 2, 2, 2]);
    const d1 = await env.DB.prepare('SELECT id FROM leases ORDER BY id').all<{ id: string }>();
    expect(d1.results.map((r) => r.id)).toEqual(leases.map((l) => l.leaseId).sort());
    await expectInStep('c1');
  });

  it('takes a slot back when D1 refuses the lease row (the quota across campaigns)', async () => {
    await seedCampaign('c1', 3);
    await seedCampaign('c2', 3);
    const v = await newVolunteer();
    // Four claims at once, two per campaign: each queue grants both, D1 keeps two (MAX_OPEN_LEASES).
    const got = (
      await Promise.all([claim(v, 'c1'), claim(v, 'c1'), claim(v, 'c2'), claim(v, 'c2')])
    ).filter((l) => l !== null);
    expect(got).toHaveLength(2);
    await expectInStep('c1');
    await expectInStep('c2');
  });

  it('keeps a finished lease’s slot after its deadline', async () => {
    await seedCampaign('c1', 1);
    const [a, b, c] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    const la = (await a.lease('wasm', 'c1'))!;
    expect((await a.result(la)).status).toBe(201);
    await env.DB.prepare('UPDATE leases SET deadline = 1 WHERE id = ?').bind(la.leaseId).run();
    await expectInStep('c1');
    expect(
      (await campaignQueue(env, 'c1').held()).leases.find((l) => l.id === la.leaseId)?.status,
    ).toBe('done');
    expect((await claim(b, 'c1'))?.experimentId).toBe('c1-0');
    expect(await claim(c, 'c1')).toBeNull(); // a's finished replica still counts
  });

  it('follows heartbeats, and frees an expired open lease’s slot', async () => {
    await seedCampaign('c1', 1);
    const [a, b, c] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    await a.lease('wasm', 'c1');
    const lb = (await b.lease('wasm', 'c1'))!;
    // b's lease runs out in 300 ms, but a heartbeat extends it: the slot stays b's.
    await env.DB.prepare('UPDATE leases SET deadline = ? WHERE id = ?')
      .bind(Date.now() + 300, lb.leaseId)
      .run();
    expect(await claim(c, 'c1')).toBeNull();
    const beat = await b.post(`/api/leases/${lb.leaseId}/heartbeat`, {
      leaseToken: lb.leaseToken,
      step: 1,
      loss: 4,
    });
    expect(beat.status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    expect(await claim(c, 'c1')).toBeNull();
    await expectInStep('c1');
    // Expired without a heartbeat: the slot is free again.
    await env.DB.prepare('UPDATE leases SET deadline = 1 WHERE id = ?').bind(lb.leaseId).run();
    expect((await claim(c, 'c1'))?.experimentId).toBe('c1-0');
    await expectInStep('c1');
  });

  it('drops a verified experiment and takes back a reopened one, reissued to a reliable volunteer first', async () => {
    await seedCampaign('c1', 2);
    const [a, b] = [await newVolunteer(), await newVolunteer()];
    const la = (await a.lease('wasm', 'c1'))!;
    await b.lease('wasm', 'c1');
    await env.DB.prepare(
      `UPDATE experiments SET status = 'verified', verification = 'trusted-single' WHERE id = ?`,
    )
      .bind(la.experimentId)
      .run();
    await expectInStep('c1');
    expect((await campaignQueue(env, 'c1').held()).experiments.map((e) => e.id)).toEqual(['c1-1']);
    await env.DB.batch([reopenExperiment(env.DB, la.experimentId, Date.now())]);
    await expectInStep('c1');
    expect(
      (await campaignQueue(env, 'c1').held()).experiments.find((e) => e.id === la.experimentId),
    ).toMatchObject({ audit: 1, replicasNeeded: 2 });
    await env.DB.prepare('UPDATE leases SET deadline = 1 WHERE experiment_id = ?')
      .bind(la.experimentId)
      .run(); // its replicas left
    const reliable = await peer({ backend: 'webgpu' });
    await env.DB.prepare('UPDATE volunteers SET reputation = 40 WHERE id = ?')
      .bind(reliable.id)
      .run();
    expect((await reliable.lease('c1'))!.experimentId).toBe(la.experimentId);
  });

  it('sees campaigns, experiments and leases written straight to D1', async () => {
    await seedCampaign('c1', 1);
    const [a, b, c] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    await a.lease('wasm', 'c1');
    await seedCampaign('c1', 2); // a second experiment, inserted after the queue loaded
    await env.DB.prepare(
      `INSERT INTO leases (id, experiment_id, volunteer_id, token_hash, backend, created_at, deadline) VALUES ('l_direct', 'c1-0', ?, 'x', 'wasm', ?, ?)`,
    )
      .bind(b.id, Date.now(), Date.now() + 600_000)
      .run();
    expect((await claim(c, 'c1'))!.experimentId).toBe('c1-1'); // c1-0 is full now
    await expectInStep('c1');
  });

  it('continues after a restart from its own storage, and reloads when its storage or D1’s feed is gone', async () => {
    await seedCampaign('c1', 3);
    const fleet = await Promise.all(Array.from({ length: 6 }, () => newVolunteer()));
    await claim(fleet[0]!, 'c1');
    await claim(fleet[1]!, 'c1');
    const queue = campaignQueue(env, 'c1');
    const before = await queue.held();
    await evictDurableObject(queue);
    expect(await queue.held()).toEqual(before); // a new instance, the same SQLite storage
    expect((await claim(fleet[2]!, 'c1'))!.experimentId).toBe('c1-1');
    await expectInStep('c1');

    await runInDurableObject(queue, (_: CampaignQueue, state) => state.storage.deleteAll());
    await evictDurableObject(queue);
    expect((await claim(fleet[3]!, 'c1'))!.experimentId).toBe('c1-1'); // reloaded: c1-0 is still full
    await expectInStep('c1');

    await env.DB.prepare('DELETE FROM queue_consumers').run(); // as after D1 was wiped and migrated again
    expect((await claim(fleet[4]!, 'c1'))!.experimentId).toBe('c1-2');
    await expectInStep('c1');
  });

  it('claims without a campaign in the campaign whose candidate ranks best', async () => {
    await seedCampaign('c1', 1);
    await seedCampaign('c2', 1);
    const [w1, w2] = [await peer({ backend: 'wasm' }), await peer({ backend: 'wasm' })];
    expect((await (await peer({ backend: 'webgpu' })).lease('c2'))!.experimentId).toBe('c2-0'); // another kind is training
    expect((await w1.lease('c1'))!.experimentId).toBe('c1-0');
    // c1-0 is a replica of w2's own kind (it waits), c2-0 one of another kind: c2 comes first.
    expect((await w2.lease())!.experimentId).toBe('c2-0');
  });

  it('picks what the D1 claim picks, step by step, over a random history', async () => {
    // Both schedulers read one D1: before each D1 claim, the queue (synced through the feed) names
    // its choice without claiming; the D1 claim must take that very experiment, or nothing when it
    // names none. Between claims, leases finish, expire and age, and experiments are reissued or
    // verified, and volunteers' standing and addresses change, by direct SQL.
    expect(RELIABLE_REPUTATION).toBe(20); // migration 0010's volunteer trigger has it as a literal
    const rng = new Rng(20261127);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
    await seedCampaign('c1', 24);
    const peers: Peer[] = [];
    for (let i = 0; i < 12; i++) {
      const caps: Capabilities = {
        backend: pick(['wasm', 'webgpu', 'cpu'] as const),
        tokensPerSec: 5000,
        ...(i % 3 ? { browser: pick(['chromium', 'firefox'] as const) } : {}),
      };
      peers.push(await peer(caps, pick(['198.51.100.1', '198.51.100.2', null, null, null])));
    }
    for (const p of peers.slice(0, 4)) await setRecord(p.id, p.caps.backend, CV_TRUSTED + 2); // reliable, and may stand alone
    const d1 = new D1Claim(env.DB, 600);
    const queue = campaignQueue(env, 'c1');
    const someLease = async (where: string) =>
      (
        await env.DB.prepare(`SELECT id FROM leases WHERE ${where} ORDER BY id`).all<{
          id: string;
        }>()
      ).results.map((r) => r.id);
    let claims = 0;
    for (let step = 0; step < 160; step++) {
      const now = Date.now();
      const u = rng.next();
      if (u < 0.55) {
        const p = pick(peers);
        const req = { volunteerId: p.id, campaignId: 'c1', capabilities: p.caps, now, ip: p.ip };
        const named = await queue.best({ campaignId: 'c1', req, minLeaseMs: 600_000 });
        const lease = await d1.claim(req);
        expect(lease?.experimentId ?? null, `step ${step}`).toBe(named?.experimentId ?? null);
        if (lease) claims++;
        continue;
      }
      const open = await someLease(`status = 'open' AND deadline > ${now}`);
      const exps = (
        await env.DB.prepare("SELECT id FROM experiments WHERE status = 'open' ORDER BY id").all<{
          id: string;
        }>()
      ).results.map((r) => r.id);
      if (u < 0.7 && open.length)
        await env.DB.prepare("UPDATE leases SET status = 'done' WHERE id = ?")
          .bind(pick(open))
          .run();
      else if (u < 0.8 && open.length)
        await env.DB.prepare('UPDATE leases SET deadline = ? WHERE id = ?')
          .bind(now - 1, pick(open))
          .run();
      else if (u < 0.9 && open.length) {
        const age = pick([STEER_WAIT_MS, RELIABLE_FIRST_MS]) + 1000;
        await env.DB.prepare('UPDATE leases SET created_at = created_at - ? WHERE id = ?')
          .bind(age, pick(open))
          .run();
      } else if (u < 0.93) {
        // A leaseholder turns reliable or loses it, or its registration address becomes known.
        const p = pick(peers);
        if (rng.next() < 0.5)
          await env.DB.prepare('UPDATE volunteers SET reputation = ? WHERE id = ?')
            .bind(pick([0, 40]), p.id)
            .run();
        else
          await env.DB.prepare('UPDATE volunteers SET ip_hash = ? WHERE id = ?')
            .bind(pick(['a'.repeat(32), 'b'.repeat(32)]), p.id)
            .run();
      } else if (u < 0.96 && exps.length) {
        await env.DB.prepare(
          'UPDATE experiments SET replicas_needed = 3, reissued_at = ? WHERE id = ?',
        )
          .bind(now - pick([0, RELIABLE_FIRST_MS + 1000]), pick(exps))
          .run();
      } else if (exps.length) {
        await env.DB.prepare("UPDATE experiments SET status = 'verified' WHERE id = ?")
          .bind(pick(exps))
          .run();
      }
    }
    expect(claims).toBeGreaterThan(30);
    await expectInStep('c1');
  });
});
