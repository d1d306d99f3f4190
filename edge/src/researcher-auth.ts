// Researcher actions need a bearer token made by the operator (`npm run researcher -- add NAME`);
// the edge stores only its SHA-256, in shard 0 (the other shards' copies of researchers hold none).
import { createMiddleware } from 'hono/factory';
import { sha256 } from '../../shared/crypto.ts';
import type { AppEnv } from './env.ts';
import { fail } from './errors.ts';
import { homeDb } from './shards.ts';

export const researcherAuth = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header('authorization') ?? '';
  const token = /^Bearer ([A-Za-z0-9_-]{20,100})$/.exec(header)?.[1];
  if (!token)
    fail(401, 'missing_token', 'Researcher actions need an Authorization: Bearer <token> header.');
  const row = await homeDb(c.env)
    .prepare('SELECT id, name FROM researchers WHERE token_hash = ?')
    .bind(await sha256(token))
    .first<{ id: string; name: string }>();
  if (!row) fail(401, 'bad_token', 'This researcher token is not valid.');
  c.set('researcher', row);
  await next();
});
