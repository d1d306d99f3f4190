import { describe, expect, it } from 'vitest';
import type { CorpusRecord } from '../../../shared/protocol.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import { verifyNext } from '../../test/campaign-fixtures.ts';
import {
  api,
  expectRefusal,
  honestMetrics,
  newVolunteer,
  seedCampaign,
  tinySpec,
} from '../../test/helpers.ts';
import { CSV_HEADER } from '../db/corpus.ts';

const jsonl = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CorpusRecord);

/** Follows the Link headers from `first` to the end; returns every page's body. */
async function walk(first: string): Promise<string[]> {
  const pages: string[] = [];
  let next: string | null = first;
  while (next) {
    const res = await api(next);
    expect(res.status).toBe(200);
    pages.push(await res.text());
    next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
    expect(pages.length).toBeLessThan(20);
  }
  return pages;
}

describe('GET /api/corpus', () => {
  it('exports every verified record as JSON lines, a cursor page at a time', async () => {
    await seedCampaign('c1', 3);
    await seedCampaign('c2', 2);
    const [a, b, c] = [await newVolunteer('a'), await newVolunteer('b'), await newVolunteer('c')];
    const order: string[] = [];
    for (const bpb of [3.0, 2.9, 3.1])
      order.push(await verifyNext(a, b, bpb, ['webgpu', 'wasm'], 'c1'));
    // c2-0: a disagreeing third result is part of the record, marked invalid.
    const [la, lb] = [(await a.lease('wasm', 'c2'))!, (await b.lease('wasm', 'c2'))!];
    await a.result(la, honestMetrics(la.spec, 3.0));
    await b.result(lb, honestMetrics(lb.spec, 3.5));
    const lc = (await c.lease('cpu', 'c2'))!;
    await c.result(lc, honestMetrics(lc.spec, 3.0 + TAU_BPB / 2, 'cpu'));
    order.push('c2-0');

    const res = await api('/api/corpus?format=jsonl&limit=2');
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.headers.get('x-next-cursor')).toMatch(/^[A-Za-z0-9_-]+$/);
    await res.body?.cancel();
    const pages = await walk('/api/corpus?format=jsonl&limit=2');
    expect(pages).toHaveLength(2);
    const records = pages.flatMap(jsonl);
    expect(records.map((r) => r.experimentId)).toEqual(order);

    const r0 = records[0]!;
    expect(r0).toMatchObject({
      campaignId: 'c1',
      seed: 1,
      spec: tinySpec(1),
      metrics: { valBpb: 3.0 + TAU_BPB / 4, curveEvery: 10 },
    });
    expect(r0.specHash).toMatch(/^[0-9a-f]{64}$/);
    expect(r0.config).toMatchObject({ lr: tinySpec().train.lr, nLayer: 1, nEmbd: 32 });
    expect(r0.metrics.curve).toEqual(honestMetrics(tinySpec()).curve);
    expect(r0.replicas.map((x) => [x.metrics.backend, x.verdict])).toEqual([
      ['webgpu', 'valid'],
      ['wasm', 'valid'],
    ]);
    const disputed = records[3]!;
    expect(disputed.replicas.map((x) => x.verdict)).toEqual(['valid', 'invalid', 'valid']);
    expect(disputed.metrics.valBpb).toBeCloseTo(3.0 + TAU_BPB / 4, 9);

    // One campaign only, and a cursor keeps its place while new verifications arrive.
    expect(
      (await walk('/api/corpus?campaign=c2')).flatMap(jsonl).map((r) => r.experimentId),
    ).toEqual(['c2-0']);
    const firstPage = await api('/api/corpus?limit=4');
    const cursor = firstPage.headers.get('x-next-cursor');
    expect(cursor).toBeNull(); // four records, four asked: nothing follows
    await firstPage.body?.cancel();
    const head = await api('/api/corpus?limit=3');
    const after = head.headers.get('x-next-cursor')!;
    await head.body?.cancel();
    await verifyNext(b, c, 2.5, ['wasm', 'wasm'], 'c2');
    const rest = jsonl(await (await api(`/api/corpus?limit=3&cursor=${after}`)).text());
    expect(rest.map((r) => r.experimentId)).toEqual(['c2-0', 'c2-1']);
  });

  it('exports CSV with one header line, then one line per record', async () => {
    await seedCampaign('c1', 3);
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    for (const bpb of [3.0, 2.9, 3.1]) await verifyNext(a, b, bpb);
    const pages = await walk('/api/corpus?format=csv&limit=2');
    expect(pages).toHaveLength(2);
    expect(pages[0]!.startsWith(CSV_HEADER)).toBe(true);
    expect(pages[1]!.startsWith('c1-')).toBe(true); // later pages: no header, so pages concatenate
    const lines = pages.join('').trimEnd().split('\r\n');
    expect(lines).toHaveLength(4);
    const header = lines[0]!.split(',');
    const first = Object.fromEntries(lines[1]!.split(',').map((v, i) => [header[i], v]));
    expect(first).toMatchObject({
      experiment_id: 'c1-0',
      campaign_id: 'c1',
      n_layer: '1',
      val_bpb: String(3.0 + TAU_BPB / 4),
      replicas: '2',
      backends: 'webgpu;wasm',
      bias: 'false',
    });
    expect(first.replica_val_bpb).toBe(`3;${3.0 + TAU_BPB / 2}`);
    expect(first.curve!.split(';')).toHaveLength(3);
    expect(lines.every((l) => l.split(',').length === header.length)).toBe(true);
  });

  it('is empty before anything verifies (the CSV keeps its header)', async () => {
    await seedCampaign('c1', 1);
    expect(await (await api('/api/corpus')).text()).toBe('');
    expect(await (await api('/api/corpus?format=csv')).text()).toBe(CSV_HEADER);
  });

  it.each([
    ['/api/corpus?format=xml', 400, 'invalid_request'],
    ['/api/corpus?limit=0', 400, 'invalid_request'],
    ['/api/corpus?limit=501', 400, 'invalid_request'],
    ['/api/corpus?limit=2.5', 400, 'invalid_request'],
    ['/api/corpus?cursor=not-a-cursor', 400, 'invalid_request'],
    ['/api/corpus?cursor=WzEsMl0', 400, 'invalid_request'], // [1,2]: well-formed base64, wrong shape
    ['/api/corpus?campaign=nope', 404, 'unknown_campaign'],
    ['/api/corpus?campaign=%3Cx%3E', 400, 'invalid_request'],
  ])('refuses %s', async (path, status, code) => {
    await expectRefusal(await api(path), status, code);
  });
});
