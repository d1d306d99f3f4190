// bench:ceiling's Worker entry (scripts/bench-ceiling.ts), not the production one: the app, plus two
// routes that do (almost) nothing — one unsigned, one behind the signature check — so the local
// stack's own cost per request can be measured.
import { Hono } from 'hono';
import { signedVolunteer } from '../src/auth.ts';
import type { AppEnv } from '../src/env.ts';
import app from '../src/index.ts';

export * from '../src/index.ts'; // the Durable Object classes wrangler.toml binds

const ceiling = new Hono<AppEnv>()
  .get('/__ceiling/noop', (c) => c.text('ok'))
  .post('/__ceiling/signed', signedVolunteer, (c) => c.text('ok'));

export default {
  fetch: (req: Request, env: Env, ctx: ExecutionContext) =>
    (new URL(req.url).pathname.startsWith('/__ceiling/') ? ceiling : app).fetch(req, env, ctx),
};
