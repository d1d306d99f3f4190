// The researcher client (shared/researcher-client.ts, what `npm run tabgrid` runs on) against the
// real app in workerd: its fetch is the app's own request(), so every byte goes through the routes.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../shared/crypto.ts';
import { buildByteDataset } from '../../shared/dataset.ts';
import { PART_BYTES } from '../../shared/dataset-upload.ts';
import { ResearcherClient, type HttpFetch } from '../../shared/researcher-client.ts';
import app from '../src/index.ts';
import { verifyNext, WIDTH_SWEEP } from './campaign-fixtures.ts';
import { newVolunteer, RESEARCHER_TOKEN, seedResearcher } from './helpers.ts';

// Bytes decoded here: workerd warns when text() reads a body typed application/x-ndjson.
const viaApp: HttpFetch = async (url, init) => {
  const res = await app.request(url, init, env);
  const bytes = await res.arrayBuffer();
  return {
    status: res.status,
    headers: res.headers,
    text: async () => new TextDecoder().decode(bytes),
  };
};
async function registered(): Promise<string[]> {
  const { results } = await env.DB.prepare('SELECT id FROM datasets').all<{ id: string }>();
  return results.map((r) => r.id);
}
const client = (token?: string) =>
  new ResearcherClient({ baseUrl: 'http://localhost', token, fetch: viaApp });

describe('ResearcherClient against the edge', () => {
  it('creates a campaign, watches it verify, and pages its corpus', async () => {
    await seedResearcher();
    await expect(
      client('not-the-researcher-token-000').createCampaign(WIDTH_SWEEP),
    ).rejects.toMatchObject({ status: 401, code: 'bad_token' });
    await expect(
      client(RESEARCHER_TOKEN).createCampaign({
        ...WIDTH_SWEEP,
        searchSpace: { nEmbd: { kind: 'fixed', value: 1024 } },
      }),
    ).rejects.toMatchObject({
      status: 0,
      code: 'not_admitted',
      issues: [{ path: 'searchSpace.nEmbd' }],
    });

    const researcher = client(RESEARCHER_TOKEN);
    const campaign = await researcher.createCampaign(WIDTH_SWEEP);
    expect(campaign).toMatchObject({ name: 'Width sweep', experiments: 6, verified: 0 });
    expect(await researcher.campaign(campaign.id)).toEqual(campaign);
    expect(await researcher.progress(campaign.id)).toMatchObject({ experiments: 6, queued: 6 });

    // Watch while two volunteers verify three experiments, one per pause.
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    const order: string[] = [];
    const seen: string[][] = [];
    const stop = { aborted: false };
    for await (const tick of researcher.watch(campaign.id, {
      signal: stop,
      sleep: async () => {
        order.push(await verifyNext(a, b, 3 - order.length / 10, ['webgpu', 'wasm'], campaign.id));
      },
    })) {
      seen.push(tick.verified.map((r) => r.experimentId));
      expect(tick.progress.verified).toBe(order.length);
      expect(tick.done).toBe(false);
      if (order.length === 3) stop.aborted = true;
    }
    expect(seen).toEqual([[], [order[0]], [order[1]], [order[2]]]);

    // Two pages of two and one, joined through the Link header.
    const records = [];
    for await (const r of researcher.corpusRecords({ campaign: campaign.id, limit: 2 }))
      records.push(r);
    expect(records.map((r) => r.experimentId)).toEqual(order);
    expect(records[0]).toMatchObject({
      campaignId: campaign.id,
      metrics: { valBpb: expect.any(Number) },
    });
    const csv = (await researcher.corpusText({ campaign: campaign.id, format: 'csv' })).split(
      '\r\n',
    );
    expect(csv[0]).toMatch(/^experiment_id,campaign_id,/);
    expect(csv.filter(Boolean)).toHaveLength(4);

    await expect(researcher.snapshot('c_nope')).rejects.toMatchObject({
      status: 404,
      code: 'unknown_campaign',
    });
  });

  it('adds a dataset (files by hash, then the manifest) and creates a campaign on it', async () => {
    await seedResearcher();
    const researcher = client(RESEARCHER_TOKEN);
    const built = await buildByteDataset('Any UTF-8 text — ünïcödé, 漢字. '.repeat(100), {
      id: 'my-notes',
      name: 'My notes',
      source: 'notes.txt',
      license: 'CC-BY-4.0',
      windows: 8,
      maxContext: 64,
    });
    const first = await researcher.addDataset(built);
    expect(first).toMatchObject({ created: true, dataset: { id: 'my-notes', vocabSize: 256 } });
    expect(await researcher.addDataset(built)).toEqual({ ...first, created: false });
    expect(await researcher.datasetManifest('my-notes')).toEqual(built.manifest);
    const campaign = await researcher.createCampaign({ ...WIDTH_SWEEP, datasetId: 'my-notes' });
    expect(campaign).toMatchObject({ datasetId: 'my-notes', experiments: 6 });
    await expect(
      client().addDataset({ ...built, manifest: { ...built.manifest, id: 'fresh' } }),
    ).rejects.toMatchObject({ code: 'missing_token' });
    // Another dataset under a taken id: refused before anything is uploaded.
    const other = await buildByteDataset('Other text entirely. '.repeat(200), {
      ...built.manifest,
      windows: 8,
      maxContext: 64,
    });
    const before = (await env.CHECKPOINTS.list({ prefix: 'datasets/' })).objects.length;
    await expect(researcher.addDataset(other)).rejects.toMatchObject({
      status: 0,
      code: 'dataset_taken',
    });
    expect((await env.CHECKPOINTS.list({ prefix: 'datasets/' })).objects).toHaveLength(before);
  });

  it('uploads a large file in parts and resumes an interrupted upload, sending only the missing parts', async () => {
    await seedResearcher();
    const small = await buildByteDataset('Field notes, day one. '.repeat(300), {
      id: 'field-notes',
      name: 'Field notes',
      source: 'notes.txt',
      license: 'CC0-1.0',
      windows: 8,
      maxContext: 64,
    });
    const train = new Uint8Array(2 * PART_BYTES + 777); // three parts
    for (let at = 0; at < train.length; at += 65536)
      crypto.getRandomValues(train.subarray(at, at + 65536));
    const built = {
      ...small,
      train,
      manifest: {
        ...small.manifest,
        train: { file: 'train.bin', tokens: train.length, sha256: await sha256(train) },
      },
    };
    // The connection drops after the second part is sent.
    const sent: string[] = [];
    const flaky: HttpFetch = async (url, init) => {
      if (/\/parts\/\d+$/.test(url)) {
        if (sent.length === 2) throw new TypeError('fetch failed');
        sent.push(url.replace(/.*\/parts\//, 'part '));
      }
      return viaApp(url, init);
    };
    const researcher = (f: HttpFetch) =>
      new ResearcherClient({ baseUrl: 'http://localhost', token: RESEARCHER_TOKEN, fetch: f });
    await expect(researcher(flaky).addDataset(built)).rejects.toThrow('fetch failed');
    expect(sent).toEqual(['part 1', 'part 2']);
    expect(await registered()).not.toContain('field-notes');

    const parts: { part: number; resumed: boolean }[] = [];
    sent.length = 0;
    const resumedFetch: HttpFetch = async (url, init) => {
      if (/\/parts\/\d+$/.test(url)) sent.push(url.replace(/.*\/parts\//, 'part '));
      return viaApp(url, init);
    };
    const { created } = await researcher(resumedFetch).addDataset(built, (p) =>
      parts.push({ part: p.part, resumed: p.resumed }),
    );
    expect(created).toBe(true);
    expect(sent).toEqual(['part 3']);
    expect(parts).toEqual([
      { part: 1, resumed: true },
      { part: 2, resumed: true },
      { part: 3, resumed: false },
    ]);
    expect(await registered()).toContain('field-notes');
    const keys = (await env.CHECKPOINTS.list()).objects.map((o) => o.key).sort();
    expect(keys).toEqual(
      [built.manifest.train.sha256, built.manifest.val.sha256].map((h) => `datasets/${h}`).sort(),
    );
  });
});
