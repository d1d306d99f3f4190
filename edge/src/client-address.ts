// The client's network address, as far as the edge can trust it: the one input of the trust rules
// (same-address keys never verify each other, per-address lease caps) and of the per-IP rate limit.
//
// In production Cloudflare writes CF-Connecting-IP on every request it forwards to the Worker (the
// address that connected to Cloudflare; docs/trust.md). Locally `wrangler dev` passes on whatever
// a client sent in that header, so a client could pick its address (a Sybil per request, or
// loopback to be nobody). Locally it is therefore believed only from a front that proves itself
// with the secret in ADDRESS_SOURCE ("front:<secret>", set per run by scripts/lib/local-edge.ts and
// never printed): the benchmarks and browser tests that stand in for Cloudflare's front. Everyone
// else is the loopback browser they are: no address.
import type { Context } from 'hono';
import { LOCAL_FRONT_HEADER } from '../../shared/protocol.ts';
import type { AppEnv } from './env.ts';

/** Shorter front secrets are refused: a guessable one would hand out addresses again. */
const MIN_SECRET = 16;

/**
 * CF-Connecting-IP where the deployment guarantees it (ADDRESS_SOURCE "cloudflare", wrangler.toml's
 * default), or where a local front sent the right secret; otherwise null.
 */
export function clientAddress(c: Context<AppEnv>): string | null {
  const header = c.req.header('cf-connecting-ip') ?? null;
  const source: string = c.env.ADDRESS_SOURCE;
  if (source === 'cloudflare') return header;
  const secret = source.startsWith('front:') ? source.slice('front:'.length) : '';
  return secret.length >= MIN_SECRET && c.req.header(LOCAL_FRONT_HEADER) === secret ? header : null;
}
