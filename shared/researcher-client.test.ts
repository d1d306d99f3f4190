import { describe, expect, it } from 'vitest';
import { buildByteDataset } from './dataset.ts';
import { DATASET_LIMITS } from './dataset-upload.ts';
import type { CampaignProgress, CampaignSnapshot, LeaderboardEntry } from './protocol.ts';
import {
  briefIssues,
  campaignDone,
  checkBrief,
  nextLink,
  ResearcherClient,
  TabgridError,
  type BriefInput,
  type HttpFetch,
  type HttpRequest,
} from './researcher-client.ts';
import { WIDTH_SWEEP } from './cases/briefs.ts';

const BRIEF: BriefInput = WIDTH_SWEEP;
const DATASET = { id: 'test', name: 'Test', vocabSize: 40, manifestSha256: 'a'.repeat(64) };

type Route = (req: HttpRequest & { url: string }) => {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
};

/** A fake edge: each request goes to the longest route key its path and query start with. */
function fakeEdge(routes: Record<string, Route>) {
  const sent: (HttpRequest & { url: string })[] = [];
  const fetch: HttpFetch = async (url, init) => {
    const req = { ...init, url };
    sent.push(req);
    const u = new URL(url);
    const key = Object.keys(routes)
      .sort((a, b) => b.length - a.length)
      .find((k) => (u.pathname + u.search).startsWith(k));
    const out = key
      ? routes[key]!(req)
      : { status: 404, body: { error: 'not_found', message: 'no' } };
    const headers = new Map(
      Object.entries(out.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
    return {
      status: out.status ?? 200,
      headers: { get: (name: string) => headers.get(name.toLowerCase()) ?? null },
      text: async () => (typeof out.body === 'string' ? out.body : JSON.stringify(out.body)),
    };
  };
  return { fetch, sent };
}

describe('briefs checked before sending', () => {
  it('names the field of each schema problem, as the edge does', () => {
    expect(briefIssues(BRIEF)).toEqual([]);
    const bad = {
      ...BRIEF,
      steps: 5,
      searchSpace: { lr: { kind: 'log-uniform', min: -1, max: 3e-3 } },
    };
    expect(briefIssues(bad).map((i) => i.path)).toEqual(['searchSpace.lr.min', 'steps']);
    expect(
      briefIssues({ ...BRIEF, searchSpace: { lr: { kind: 'uniform', min: 2, max: 1 } } }),
    ).toEqual([{ path: 'searchSpace.lr', message: 'min must not exceed max' }]);
    expect(() => checkBrief(bad)).toThrow(/^Invalid brief at searchSpace\.lr\.min: Too small/);
  });

  it('fills the defaults and runs the admission policy with the dataset', () => {
    expect(checkBrief(BRIEF)).toMatchObject({
      replicas: 2,
      segments: 1,
      strategy: { kind: 'random' },
    });
    const huge = { ...BRIEF, searchSpace: { nEmbd: { kind: 'fixed', value: 1024 } } } as const;
    expect(checkBrief(huge)).toBeTruthy(); // the schema alone admits it
    try {
      checkBrief(huge, DATASET);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TabgridError);
      expect((e as TabgridError).code).toBe('not_admitted');
      expect((e as TabgridError).issues[0]!.path).toBe('searchSpace.nEmbd');
    }
  });
});

describe('ResearcherClient', () => {
  it('creates a campaign: datasets, then one authenticated POST of the parsed brief', async () => {
    const edge = fakeEdge({
      '/api/datasets': () => ({ body: { datasets: [DATASET] } }),
      '/api/campaigns': () => ({ status: 201, body: { campaign: { id: 'c_1', experiments: 6 } } }),
    });
    const client = new ResearcherClient({
      baseUrl: 'https://edge.example/',
      token: 'tok',
      fetch: edge.fetch,
    });
    expect(await client.createCampaign(BRIEF)).toEqual({ id: 'c_1', experiments: 6 });
    const post = edge.sent[1]!;
    expect(post.url).toBe('https://edge.example/api/campaigns');
    expect(post.method).toBe('POST');
    expect(post.headers.authorization).toBe('Bearer tok');
    expect(JSON.parse(post.body as string)).toEqual(checkBrief(BRIEF));
  });

  it('refuses locally, sending nothing, a brief the schema refuses; an unknown dataset after one GET', async () => {
    const edge = fakeEdge({ '/api/datasets': () => ({ body: { datasets: [DATASET] } }) });
    const client = new ResearcherClient({ baseUrl: 'http://e', token: 'tok', fetch: edge.fetch });
    await expect(client.createCampaign({ ...BRIEF, experiments: 0 })).rejects.toMatchObject({
      status: 0,
      code: 'invalid_brief',
      issues: [{ path: 'experiments' }],
    });
    expect(edge.sent).toHaveLength(0);
    await expect(client.createCampaign({ ...BRIEF, datasetId: 'nope' })).rejects.toMatchObject({
      code: 'unknown_dataset',
      issues: [{ path: 'datasetId' }],
    });
    expect(edge.sent.map((r) => r.method)).toEqual(['GET']);
  });

  it('refuses a dataset over the limits before uploading a byte', async () => {
    const edge = fakeEdge({ '/api/datasets': () => ({ body: { datasets: [] } }) });
    const client = new ResearcherClient({ baseUrl: 'http://e', token: 'tok', fetch: edge.fetch });
    const small = await buildByteDataset('Some text to tokenize. '.repeat(100), {
      id: 'big',
      name: 'Big',
      source: 'test',
      license: 'CC0-1.0',
      windows: 4,
      maxContext: 16,
    });
    const tooBig = { ...small, train: new Uint8Array(DATASET_LIMITS.datasetBytes) };
    await expect(client.addDataset(tooBig)).rejects.toMatchObject({
      status: 0,
      code: 'dataset_too_large',
    });
    const file = new Uint8Array(DATASET_LIMITS.fileBytes + 1);
    await expect(client.uploadFile('0'.repeat(64), file)).rejects.toMatchObject({
      status: 0,
      code: 'payload_too_large',
    });
    expect(edge.sent.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual([
      'GET /api/datasets', // is the id taken? then nothing more
    ]);
  });

  it("turns the edge's refusal into a TabgridError with its code and issues", async () => {
    const edge = fakeEdge({
      '/api/datasets': () => ({ body: { datasets: [DATASET] } }),
      '/api/campaigns': () => ({
        status: 401,
        body: { error: 'bad_token', message: 'This researcher token is not valid.' },
      }),
      '/api/campaigns/x/progress': () => ({ status: 502, body: '<html>bad gateway</html>' }),
    });
    const client = new ResearcherClient({ baseUrl: 'http://e', token: 'tok', fetch: edge.fetch });
    await expect(client.createCampaign(BRIEF)).rejects.toMatchObject({
      status: 401,
      code: 'bad_token',
      message: 'This researcher token is not valid.',
    });
    await expect(client.progress('x')).rejects.toMatchObject({ status: 502, code: 'http_error' });
    const anonymous = new ResearcherClient({ baseUrl: 'http://e', fetch: edge.fetch });
    await expect(anonymous.createCampaign(BRIEF)).rejects.toMatchObject({ code: 'missing_token' });
  });

  it('pages the corpus by following the Link header to the last page', async () => {
    const line = (id: string) => JSON.stringify({ experimentId: id }) + '\n';
    const edge = fakeEdge({
      '/api/corpus?format=jsonl&campaign=c%201&cursor=B': () => ({ body: line('e3') }),
      '/api/corpus?format=jsonl&campaign=c%201&cursor=A': () => ({
        body: line('e2'),
        headers: { link: '</api/corpus?format=jsonl&campaign=c%201&cursor=B>; rel="next"' },
      }),
      '/api/corpus?format=jsonl&campaign=c%201': () => ({
        body: line('e0') + line('e1'),
        headers: { Link: '</api/corpus?format=jsonl&campaign=c%201&cursor=A>; rel="next"' },
      }),
    });
    const client = new ResearcherClient({ baseUrl: 'http://e', fetch: edge.fetch });
    const ids: string[] = [];
    for await (const r of client.corpusRecords({ campaign: 'c 1' })) ids.push(r.experimentId);
    expect(ids).toEqual(['e0', 'e1', 'e2', 'e3']);
    expect(edge.sent.map((r) => r.url.split('&cursor=')[1] ?? '')).toEqual(['', 'A', 'B']);
  });

  it('parses Link headers', () => {
    expect(nextLink(null)).toBeNull();
    expect(nextLink('</a?x=1>; rel="next"')).toBe('/a?x=1');
    expect(nextLink('</p>; rel="prev", </n>; rel=next')).toBe('/n');
    expect(nextLink('</p>; rel="prev"')).toBeNull();
  });

  it('watches a campaign: each verified experiment once, oldest first, until it is done', async () => {
    const progress = (verified: number, running: number): CampaignProgress => ({
      experiments: 3,
      queued: 3 - verified - running,
      running,
      awaitingReplica: 0,
      verified,
      disputed: 0,
      remainingTokens: 0,
      fleet: { volunteers: 1, tokensPerSec: 100 },
      etaSeconds: null,
      updatedAt: 0,
    });
    const row = (id: string, verifiedAt: number) =>
      ({ experimentId: id, verifiedAt, idx: 0 }) as LeaderboardEntry;
    const snaps: Pick<CampaignSnapshot, 'progress' | 'rows'>[] = [
      { progress: progress(0, 1), rows: [] },
      { progress: progress(2, 1), rows: [row('b', 20), row('a', 10)] },
      { progress: progress(3, 0), rows: [row('b', 20), row('c', 30), row('a', 10)] },
    ];
    let i = 0;
    const edge = fakeEdge({
      '/api/campaigns/c1/snapshot': () => ({
        body: { campaign: { id: 'c1' }, leaders: [], ...snaps[i++] },
      }),
    });
    const client = new ResearcherClient({ baseUrl: 'http://e', fetch: edge.fetch });
    const sleeps: number[] = [];
    const ticks = [];
    for await (const t of client.watch('c1', {
      intervalMs: 2000,
      sleep: async (ms) => void sleeps.push(ms),
    }))
      ticks.push(t);
    expect(ticks.map((t) => [t.verified.map((r) => r.experimentId), t.done])).toEqual([
      [[], false],
      [['a', 'b'], false],
      [['c'], true],
    ]);
    expect(sleeps).toEqual([2000, 2000]);
    expect(campaignDone(progress(0, 0))).toBe(false); // three queued
  });
});
