import { describe, expect, it } from 'vitest';
import { api as apiApp } from '../api.ts';
import { ROUTES } from '../../test/routes.ts';
import { api } from '../../test/helpers.ts';

describe('GET /api/health', () => {
  it('answers ok', async () => {
    const res = await api('/api/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('answers unknown API routes with a JSON 404', async () => {
    const res = await api('/api/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_found' });
  });
});

describe('API description', () => {
  it('serves an OpenAPI 3.1 document whose request schemas come from the shared zod schemas', async () => {
    const res = await api('/api/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: {
              content: Record<string, { schema: { properties?: Record<string, unknown> } }>;
            };
          }
        >
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    const lease = doc.paths['/api/leases']!.post!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(lease.properties ?? {})).toEqual([
      'campaignId',
      'partnerId',
      'capabilities',
    ]);
    expect(Object.keys(doc.paths)).toContain('/api/results');
  });

  it('documents every route the app mounts, and no route it does not', () => {
    // Hono's own route table (middleware registered with use() has method ALL and is left out);
    // the OpenAPI document and its reference page themselves are the only undocumented routes.
    const mounted = new Set(
      apiApp.routes
        .filter((r) => r.method !== 'ALL' && !['/api/openapi.json', '/api/docs'].includes(r.path))
        .map((r) => `${r.method} ${r.path.replace(/:([a-z]+)/gi, '{$1}')}`),
    );
    const documented = new Set(ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`));
    expect([...mounted].filter((r) => !documented.has(r)).sort()).toEqual([]);
    expect([...documented].filter((r) => !mounted.has(r)).sort()).toEqual([]);
    // …each through its own doc(): a summary, and the refusal codes the fuzzer's oracle checks.
    expect(ROUTES.filter((r) => !r.summary).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    expect(ROUTES.find((r) => r.path === '/api/results')?.errors).toContain('experiment_settled');
  });

  it('serves a readable reference page', async () => {
    const res = await api('/api/docs');
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain('POST /api/results');
  });
});
