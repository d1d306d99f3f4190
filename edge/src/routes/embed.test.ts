import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, seedPartner } from '../../test/helpers.ts';
import { withFrameAncestors } from './embed.ts';

/** The built app (dist/) is what /embed serves; `npm run test:unit` may run before any build. */
async function appShellBuilt(): Promise<boolean> {
  return (await env.ASSETS.fetch('http://localhost/')).ok;
}

function directive(csp: string | null, name: string): string | undefined {
  return csp
    ?.split(';')
    .map((d) => d.trim())
    .find((d) => d.startsWith(`${name} `));
}

describe('GET /embed', () => {
  it("serves the app shell framable by the partner's origins only, with the pages' other headers", async (ctx) => {
    if (!(await appShellBuilt())) ctx.skip('dist/ is not built (npm run build)');
    await seedPartner('news-site', 'Partner news-site', [
      'https://news.example',
      'http://localhost:5173',
    ]);
    const res = await api('/embed?partner=news-site');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('<div id="app">');
    const csp = res.headers.get('content-security-policy');
    expect(directive(csp, 'frame-ancestors')).toBe(
      'frame-ancestors https://news.example http://localhost:5173',
    );
    expect(csp?.match(/frame-ancestors/g)).toHaveLength(1);
    expect(res.headers.get('x-frame-options')).toBeNull();
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(res.headers.get('cache-control')).toBe('no-store');

    // Everything but frame-ancestors is the policy every static page gets from public/_headers.
    const page = await env.ASSETS.fetch('http://localhost/');
    const pageCsp = page.headers.get('content-security-policy');
    expect(directive(pageCsp, 'frame-ancestors')).toBe("frame-ancestors 'none'");
    expect(csp).toBe(
      withFrameAncestors(pageCsp!, ['https://news.example', 'http://localhost:5173']),
    );
    expect(res.headers.get('cross-origin-opener-policy')).toBe(
      page.headers.get('cross-origin-opener-policy'),
    );
  });

  it('answers an unknown or malformed partner with a 404 page nobody may frame', async () => {
    for (const query of ['?partner=nobody', '?partner=Bad_Id', '']) {
      const res = await api(`/embed${query}`);
      expect(res.status, query).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(directive(res.headers.get('content-security-policy'), 'frame-ancestors')).toBe(
        "frame-ancestors 'none'",
      );
      expect(await res.text()).toContain('no registered partner');
    }
  });

  it('never lets a stored origin that is not a serialized origin into the header', async (ctx) => {
    if (!(await appShellBuilt())) ctx.skip('dist/ is not built (npm run build)');
    await seedPartner('tampered', 'Partner tampered', [
      'https://ok.example',
      "https://evil.example; script-src 'unsafe-inline'",
      '*',
    ]);
    const res = await api('/embed?partner=tampered');
    expect(directive(res.headers.get('content-security-policy'), 'frame-ancestors')).toBe(
      'frame-ancestors https://ok.example',
    );
    const pageCsp = (await env.ASSETS.fetch('http://localhost/')).headers.get(
      'content-security-policy',
    )!;
    expect(res.headers.get('content-security-policy')).toBe(
      withFrameAncestors(pageCsp, ['https://ok.example']),
    );
  });

  it('leaves the API untouched behind it', async () => {
    const res = await api('/api/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_found' });
  });
});

describe('/widget.js (a static asset, headers from public/_headers)', () => {
  it('may be loaded by any site, and is cached for a while', async (ctx) => {
    const res = await env.ASSETS.fetch('http://localhost/widget.js');
    if (res.status === 404) ctx.skip('dist/ is not built (npm run build)');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('cache-control')).toBe('public, max-age=3600');
    const body = await res.text();
    expect(body.length).toBeLessThan(10_000);
    expect(body).not.toMatch(/^\s*(import|export)\b/m); // a classic script
  });
});

describe('withFrameAncestors', () => {
  it('replaces the directive, or adds it, and falls back to none', () => {
    expect(
      withFrameAncestors("default-src 'self'; frame-ancestors 'none'; base-uri 'none'", [
        'https://a.example',
      ]),
    ).toBe("default-src 'self'; base-uri 'none'; frame-ancestors https://a.example");
    expect(withFrameAncestors("default-src 'self'", ['https://a.example'])).toBe(
      "default-src 'self'; frame-ancestors https://a.example",
    );
    expect(withFrameAncestors("default-src 'self'; frame-ancestors *", [])).toBe(
      "default-src 'self'; frame-ancestors 'none'",
    );
  });
});
