// Rate limits through the Workers Rate Limiting binding: per client IP on every API route, and
// per volunteer once a request's signature is known.
import { createMiddleware } from 'hono/factory';
import { clientAddress } from './client-address.ts';
import type { AppEnv } from './env.ts';
import { fail } from './errors.ts';

export const ipRateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const ip = clientAddress(c) ?? 'local';
  const { success } = await c.env.IP_LIMITER.limit({ key: ip });
  if (!success)
    fail(429, 'rate_limited', 'Too many requests from this address; slow down and retry.');
  await next();
});

export async function limitVolunteer(env: Env, volunteerId: string): Promise<void> {
  const { success } = await env.VOLUNTEER_LIMITER.limit({ key: volunteerId });
  if (!success)
    fail(429, 'rate_limited', 'Too many requests from this volunteer; slow down and retry.');
}
