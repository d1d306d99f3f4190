import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, signCanonical } from '../../../shared/crypto.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import {
  honestMetrics,
  newVolunteer,
  resultPayload,
  seedCampaign,
  snapshot,
  type TestVolunteer,
} from '../../test/helpers.ts';

async function experiment(id: string) {
  return env.DB.prepare(
    'SELECT status, val_bpb AS valBpb, replicas_needed AS replicasNeeded FROM experiments WHERE id = ?',
  )
    .bind(id)
    .first<{ status: string; valBpb: number | null; replicasNeeded: number }>();
}

describe('POST /api/results', () => {
  it('verifies an experiment when two volunteers agree within the tolerance', async () => {
    await seedCampaign('c1', 1);
    const [a, b] = [await newVolunteer(), await newVolunteer()];
    const [la, lb] = [(await a.lease('webgpu'))!, (await b.lease('wasm'))!];
    const first = await a.result(la, honestMetrics(la.spec, 3.0, 'webgpu'));
    expect(first.status).toBe(201);
    expect(await first.json()).toMatchObject({ duplicate: false, experimentStatus: 'open' });
    const second = await b.result(lb, honestMetrics(lb.spec, 3.0 + TAU_BPB / 2, 'wasm'));
    expect(await second.json()).toMatchObject({ duplicate: false, experimentStatus: 'verified' });
    expect(await experiment('c1-0')).toMatchObject({
      status: 'verified',
      valBpb: 3.0 + TAU_BPB / 4,
    });
  });

  it('asks for a third replica when two results disagree, and lets the majority decide', async () => {
    await seedCampaign('c1', 1);
    const [a, b, c] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    const [la, lb] = [(await a.lease())!, (await b.lease())!];
    await a.result(la, honestMetrics(la.spec, 3.0));
    await b.result(lb, honestMetrics(lb.spec, 3.0 + 3 * TAU_BPB));
    expect(await experiment('c1-0')).toMatchObject({ status: 'open', replicasNeeded: 3 });
    const lc = (await c.lease())!;
    expect(lc.experimentId).toBe('c1-0');
    await c.result(lc, honestMetrics(lc.spec, 3.0 + TAU_BPB / 2));
    expect(await experiment('c1-0')).toMatchObject({
      status: 'verified',
      valBpb: 3.0 + TAU_BPB / 4,
    });
    const { results } = await env.DB.prepare('SELECT volunteer_id AS v, verdict FROM results').all<{
      v: string;
      verdict: string;
    }>();
    expect(Object.fromEntries(results.map((r) => [r.v, r.verdict]))).toEqual({
      [a.id]: 'valid',
      [b.id]: 'invalid',
      [c.id]: 'valid',
    });
  });

  it('takes a result after its lease expired while nobody took its replica slot (a dropped network)', async () => {
    await seedCampaign('c1', 1);
    const a = await newVolunteer();
    const la = (await a.lease())!;
    await env.DB.prepare('UPDATE leases SET deadline = 1 WHERE id = ?').bind(la.leaseId).run();
    const res = await a.result(la);
    expect(res.status).toBe(201);
    expect(
      (await env.DB.prepare('SELECT status FROM leases WHERE id = ?')
        .bind(la.leaseId)
        .first<{ status: string }>())!.status,
    ).toBe('done');
  });

  it('returns the same outcome when the same result is submitted again', async () => {
    await seedCampaign('c1', 1);
    const a = await newVolunteer();
    const la = (await a.lease())!;
    const first = (await (await a.result(la)).json()) as { resultId: string };
    const before = await snapshot();
    const again = await a.result(la);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({
      resultId: first.resultId,
      duplicate: true,
      experimentStatus: 'open',
    });
    expect(await snapshot()).toEqual(before);
  });

  type Case = [
    string,
    (v: TestVolunteer, other: TestVolunteer) => Promise<Response>,
    number,
    string,
  ];
  /** v's result for a fresh lease, signed, with its JSON text edited after (what JSON cannot say). */
  async function postEdited(v: TestVolunteer, edit: (text: string) => string) {
    const result = resultPayload((await v.lease())!);
    const text = JSON.stringify({
      result,
      signature: await signCanonical(v.keys.privateKey, result),
    });
    return v.post('/api/results', null, { raw: edit(text) });
  }
  const refusals: Case[] = [
    [
      'an unknown lease',
      async (v) => {
        const l = (await v.lease())!;
        return v.result({ ...l, leaseId: 'l_nope' });
      },
      404,
      'unknown_lease',
    ],
    [
      "someone else's lease",
      async (v, other) => other.result((await v.lease())!),
      403,
      'foreign_lease',
    ],
    [
      'a wrong lease token',
      async (v) => v.result({ ...(await v.lease())!, leaseToken: 'x'.repeat(43) }),
      403,
      'foreign_lease',
    ],
    [
      'an expired lease whose replica slot another volunteer holds now',
      async (v, other) => {
        const l = (await v.lease())!;
        await env.DB.batch([
          env.DB.prepare('UPDATE leases SET deadline = 1 WHERE id = ?').bind(l.leaseId),
          env.DB.prepare('UPDATE experiments SET replicas_needed = 1 WHERE id = ?').bind(
            l.experimentId,
          ),
        ]);
        expect((await other.lease())!.experimentId).toBe(l.experimentId);
        return v.result(l);
      },
      409,
      'lease_expired',
    ],
    [
      'a wrong spec hash',
      async (v) => v.result((await v.lease())!, {}, { specHash: 'b'.repeat(64) }),
      422,
      'spec_mismatch',
    ],
    [
      'a wrong dataset hash',
      async (v) => v.result((await v.lease())!, {}, { datasetSha256: 'c'.repeat(64) }),
      422,
      'dataset_mismatch',
    ],
    [
      'fewer steps than the budget',
      async (v) => {
        const l = (await v.lease())!;
        return v.result(l, { steps: l.spec.train.steps - 1 });
      },
      422,
      'budget_mismatch',
    ],
    [
      'a negative val_bpb',
      async (v) => v.result((await v.lease())!, { valBpb: -1 }),
      400,
      'invalid_request',
    ],
    [
      'a result signed by another key',
      async (v) => {
        const result = resultPayload((await v.lease())!);
        const other = await generateSigningKey();
        return v.post('/api/results', {
          result,
          signature: await signCanonical(other.privateKey, result),
        });
      },
      401,
      'bad_signature',
    ],
    [
      'NaN metrics',
      (v) => postEdited(v, (text) => text.replace(/"valBpb":[0-9.]+/, '"valBpb":NaN')),
      400,
      'invalid_json',
    ],
    [
      'a string where a number belongs',
      (v) => postEdited(v, (text) => text.replace(/"steps":([0-9]+)/, '"steps":"$1"')),
      400,
      'invalid_request',
    ],
  ];

  it.each(refusals)('refuses %s and changes nothing', async (_name, send, status, code) => {
    await seedCampaign('c1', 2);
    const [v, other] = [await newVolunteer(), await newVolunteer()];
    let before: unknown;
    // snapshot after the lease was taken, just before the refused submission
    const watched = (t: TestVolunteer): TestVolunteer =>
      new Proxy(t, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver);
          if (key !== 'result' && key !== 'post') return value;
          return async (...args: unknown[]) => {
            before = await snapshot();
            return (value as (...a: unknown[]) => Promise<Response>).apply(target, args);
          };
        },
      });
    const res = await send(watched(v), watched(other));
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe(code);
    expect(body.message).toMatch(/\w+ \w+/);
    expect(await snapshot()).toEqual(before);
  });
});
