// The scheduler's trust rules: replicas steered across backends, and adaptive replication — every
// result replicated below CV 10, then with probability 1/CV by a keyed draw the volunteer never sees.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Lease } from '../../../shared/protocol.ts';
import { seedCampaign } from '../../test/helpers.ts';
import {
  experimentState,
  findDrawKey,
  peer,
  setDrawKey,
  setRecord,
  standing,
  verdicts,
} from '../../test/trust.ts';
import { CLAIM_WINDOW } from './queue-sql.ts';
import {
  CV_TRUSTED,
  RELIABLE_FIRST_MS,
  replicationProbability,
  shouldReplicate,
  STEER_WAIT_MS,
} from '../trust/policy.ts';
import { draw } from '../trust/secrets.ts';

async function single(leaseId: string): Promise<number> {
  return (await env.DB.prepare('SELECT single FROM leases WHERE id = ?')
    .bind(leaseId)
    .first<{ single: number }>())!.single;
}

describe('replica steering', () => {
  it('pairs a fleet of one kind at once', async () => {
    await seedCampaign('c1', 2);
    const [w1, w2] = [await peer({ backend: 'wasm' }), await peer({ backend: 'wasm' })];
    expect((await w1.lease())!.experimentId).toBe('c1-0');
    expect((await w2.lease())!.experimentId).toBe('c1-0');
  });

  it('while another kind trains, prefers fresh work to a replica of its own kind until that replica has waited', async () => {
    await seedCampaign('c1', 3);
    await seedCampaign('c2', 1);
    expect((await (await peer({ backend: 'webgpu' })).lease('c2'))!.experimentId).toBe('c2-0'); // another kind, training
    const [w1, w2, w3] = [
      await peer({ backend: 'wasm' }),
      await peer({ backend: 'wasm' }),
      await peer({ backend: 'wasm' }),
    ];
    const l1 = (await w1.lease('c1'))!;
    expect(l1.experimentId).toBe('c1-0');
    expect((await w2.lease('c1'))!.experimentId).toBe('c1-1'); // fresh, rather than c1-0 on the same backend
    await env.DB.prepare('UPDATE leases SET created_at = ? WHERE id = ?')
      .bind(Date.now() - STEER_WAIT_MS - 1000, l1.leaseId)
      .run();
    expect((await w3.lease('c1'))!.experimentId).toBe('c1-0'); // waited long enough for another backend
    const g = await peer({ backend: 'webgpu' });
    expect((await g.lease('c1'))!.experimentId).toBe('c1-1'); // the replica on another kind comes first
  });

  it('hands out the oldest waiting replica slot first', async () => {
    await seedCampaign('c1', 3);
    const [g1, g2, g3] = [
      await peer({ backend: 'webgpu' }),
      await peer({ backend: 'webgpu' }),
      await peer({ backend: 'webgpu' }),
    ];
    expect((await g1.lease())!.experimentId).toBe('c1-0');
    expect((await (await peer({ backend: 'cpu' })).lease())!.experimentId).toBe('c1-0');
    const l2 = (await g2.lease())!;
    expect(l2.experimentId).toBe('c1-1');
    await env.DB.prepare('UPDATE leases SET created_at = created_at - 1000 WHERE id = ?')
      .bind(l2.leaseId)
      .run();
    expect((await g3.lease())!.experimentId).toBe('c1-2'); // fresh: a cpu volunteer is training
    expect((await (await peer({ backend: 'wasm' })).lease())!.experimentId).toBe('c1-1');
    expect((await (await peer({ backend: 'wasm' })).lease())!.experimentId).toBe('c1-2');
  });
});

describe('the claim window', () => {
  /** Leases on experiments c1-[from, to) for a volunteer, written directly: open and live, or done. */
  async function leaseRange(
    volunteerId: string,
    from: number,
    to: number,
    status: 'open' | 'done',
  ): Promise<void> {
    await env.DB.prepare(
      `INSERT INTO leases (id, experiment_id, volunteer_id, token_hash, backend, created_at, deadline, status)
       SELECT ?1 || '-' || idx, id, ?1, 'x', 'wasm', ?2, ?2 + 3600000, ?3 FROM experiments WHERE campaign_id = 'c1' AND idx >= ?4 AND idx < ?5`,
    )
      .bind(volunteerId, Date.now(), status, from, to)
      .run();
  }

  it('skips more than a window of experiments the volunteer may not take, and finds the next one', async () => {
    expect(CLAIM_WINDOW).toBe(256);
    await seedCampaign('c1', CLAIM_WINDOW + 44);
    const x = await peer({ backend: 'wasm' }, '203.0.113.7');
    const [a, b, sameIp] = [
      await peer({ backend: 'webgpu' }),
      await peer({ backend: 'cpu' }),
      await peer({ backend: 'webgpu' }, '203.0.113.7'),
    ];
    await leaseRange(x.id, 0, 100, 'done'); // its own results: never two replicas of one experiment
    await leaseRange(a.id, 100, 200, 'open'); // fully leased (two replicas)
    await leaseRange(b.id, 100, 200, 'open');
    await leaseRange(sameIp.id, 200, CLAIM_WINDOW, 'open'); // leased from x's address
    expect((await x.lease())!.experimentId).toBe(`c1-${CLAIM_WINDOW}`); // the 257th
    expect((await x.lease('c1'))!.experimentId).toBe(`c1-${CLAIM_WINDOW + 1}`);
    await env.DB.prepare("UPDATE leases SET status = 'done' WHERE volunteer_id = ?")
      .bind(x.id)
      .run(); // under its quota again
    await leaseRange(x.id, CLAIM_WINDOW + 2, CLAIM_WINDOW + 43, 'done');
    expect((await x.lease())!.experimentId).toBe(`c1-${CLAIM_WINDOW + 43}`); // the last one
    expect(await x.lease()).toBeNull(); // nothing left for x anywhere
  });
});

describe('newcomers and established volunteers', () => {
  // Reliable: 12 verified results (reputation 24); vouched for, in a cold start: one (reputation 2).
  it.each([
    ['reliable', 12],
    ['vouched-for', 1],
  ])(
    'keeps newcomers from replicating each other while a %s volunteer is training',
    async (_, verified) => {
      await seedCampaign('c1', 3);
      await seedCampaign('c2', 1);
      const [r1, r2] = [await peer({ backend: 'cpu' }), await peer({ backend: 'webgl' })];
      for (const r of [r1, r2]) await setRecord(r.id, r.caps.backend, verified);
      expect((await r1.lease('c2'))!.experimentId).toBe('c2-0'); // an established volunteer is training
      const [n1, n2, n3] = [
        await peer({ backend: 'webgpu' }),
        await peer({ backend: 'wasm' }),
        await peer({ backend: 'cpu' }),
      ];
      expect((await n1.lease('c1'))!.experimentId).toBe('c1-0');
      const l2 = (await n2.lease('c1'))!;
      expect(l2.experimentId).toBe('c1-1'); // not n1's, although it is another backend
      expect((await r2.lease('c1'))!.experimentId).toBe('c1-0'); // the established one replicates the oldest newcomer's
      await env.DB.prepare('UPDATE leases SET created_at = ? WHERE id = ?')
        .bind(Date.now() - RELIABLE_FIRST_MS - 1000, l2.leaseId)
        .run();
      expect((await n3.lease('c1'))!.experimentId).toBe('c1-1'); // waited long enough for an established replica
    },
  );

  it('gives a newcomer fresh work, not a vouched volunteer’s replica, while the vouched are training (a copier never picks its accomplice’s run)', async () => {
    await seedCampaign('c1', 3);
    const [accomplice, honest] = [
      await peer({ backend: 'webgpu' }),
      await peer({ backend: 'cpu' }),
    ];
    for (const v of [accomplice, honest]) await setRecord(v.id, v.caps.backend, 1);
    expect((await accomplice.lease('c1'))!.experimentId).toBe('c1-0');
    const copier = await peer({ backend: 'wasm' });
    expect((await copier.lease('c1'))!.experimentId).toBe('c1-1'); // fresh, though c1-0 waits for a replica on another backend
    expect((await honest.lease('c1'))!.experimentId).toBe('c1-0'); // a peer of the accomplice's tier replicates it
  });

  it('lets newcomers replicate each other when nobody has a verified result yet', async () => {
    await seedCampaign('c1', 2);
    const [n1, n2] = [await peer({ backend: 'webgpu' }), await peer({ backend: 'wasm' })];
    expect((await n1.lease('c1'))!.experimentId).toBe('c1-0');
    expect((await n2.lease('c1'))!.experimentId).toBe('c1-0');
  });
});

describe('adaptive replication', () => {
  it('replicates with probability 1/CV from CV 10 on, and always below', async () => {
    expect(replicationProbability(0)).toBe(1);
    expect(replicationProbability(CV_TRUSTED - 1)).toBe(1);
    expect(replicationProbability(CV_TRUSTED)).toBe(1 / CV_TRUSTED);
    // The draw is uniform: over 4000 purposes the replicated share is 1/CV within 3 sigma.
    for (const cv of [10, 20, 40]) {
      let replicated = 0;
      for (let i = 0; i < 4000; i++)
        if (shouldReplicate(cv, await draw('seed', `replicate:v:${i}`))) replicated++;
      const p = 1 / cv;
      expect(Math.abs(replicated / 4000 - p)).toBeLessThan(3 * Math.sqrt((p * (1 - p)) / 4000));
    }
  });

  it('lets a trusted volunteer’s result stand alone or be replicated as the seeded draw says, without telling it', async () => {
    await seedCampaign('c1', 3);
    const t = await peer({ backend: 'wasm' });
    await setRecord(t.id, 'wasm', CV_TRUSTED);
    // The draw is keyed on the volunteer's lease count: its first lease stands alone, its second not.
    await setDrawKey(
      await findDrawKey([
        [`replicate:${t.id}:0`, (u) => u >= 1 / CV_TRUSTED],
        [`replicate:${t.id}:1`, (u) => u < 1 / CV_TRUSTED],
      ]),
    );
    const res = await t.post('/api/leases', { capabilities: { backend: 'wasm' } });
    const body = await res.text();
    expect(body).not.toMatch(/single|replica/i);
    const l0 = (JSON.parse(body) as { lease: Lease }).lease;
    expect(l0.experimentId).toBe('c1-0');
    expect(await single(l0.leaseId)).toBe(1);
    // Nobody else is handed c1-0.
    const other = await peer({ backend: 'webgpu' });
    expect((await other.lease())!.experimentId).toBe('c1-1');
    // Its result stands alone: credited, CV and reputation unchanged (no replica checked it).
    await t.submit(l0, 3.1);
    expect(await experimentState('c1-0')).toMatchObject({
      status: 'verified',
      verification: 'trusted-single',
    });
    expect((await verdicts('c1-0'))[t.id]).toEqual({
      verdict: 'valid',
      basis: 'trusted-single',
      credit: 'granted',
    });
    expect(await standing(t.id)).toMatchObject({ cv: CV_TRUSTED, reputation: 2 * CV_TRUSTED });
    // c1-1: the draw replicates it, so t becomes other's replica.
    const l1 = (await t.lease())!;
    expect(l1.experimentId).toBe('c1-1');
    expect(await single(l1.leaseId)).toBe(0);
  });

  it('replicates every result below CV 10, whatever the draw', async () => {
    await seedCampaign('c1', 1);
    const t = await peer({ backend: 'wasm' });
    await setRecord(t.id, 'wasm', CV_TRUSTED - 1);
    await setDrawKey(await findDrawKey([[`replicate:${t.id}:0`, (u) => u > 0.99]]));
    const l = (await t.lease())!;
    expect(await single(l.leaseId)).toBe(0);
    expect((await (await peer({ backend: 'webgpu' })).lease())!.experimentId).toBe('c1-0');
  });

  it('replicates a single lease’s result after all when its volunteer was caught meanwhile', async () => {
    await seedCampaign('c1', 1);
    const t = await peer({ backend: 'wasm' });
    await setRecord(t.id, 'wasm', CV_TRUSTED);
    await setDrawKey(await findDrawKey([[`replicate:${t.id}:0`, (u) => u > 0.5]]));
    const l = (await t.lease())!;
    expect(await single(l.leaseId)).toBe(1);
    await setRecord(t.id, 'wasm', 0, -40); // an invalid result elsewhere reset it
    await t.submit(l, 3.1);
    expect(await experimentState('c1-0')).toMatchObject({ status: 'open', replicasNeeded: 2 });
    expect(await single(l.leaseId)).toBe(0); // its slots are free again
    expect((await (await peer({ backend: 'webgpu' })).lease())!.experimentId).toBe('c1-0');
  });

  it('re-decides when a single lease expires', async () => {
    await seedCampaign('c1', 1);
    const t = await peer({ backend: 'wasm' });
    await setRecord(t.id, 'wasm', CV_TRUSTED);
    await setDrawKey(await findDrawKey([[`replicate:${t.id}:0`, (u) => u > 0.5]]));
    const l = (await t.lease())!;
    await env.DB.prepare('UPDATE leases SET deadline = 1 WHERE id = ?').bind(l.leaseId).run();
    const n = await peer({ backend: 'webgpu' });
    expect((await n.lease())!.experimentId).toBe('c1-0');
    expect(await experimentState('c1-0')).toMatchObject({ replicasNeeded: 2 });
  });
});
