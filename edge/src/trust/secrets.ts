// Per-database secrets (made by migration 0004): the salt of IP hashes and the key of the
// replication draw. Neither ever leaves the edge.
import { sha256 } from '../../../shared/crypto.ts';

export interface TrustSecrets {
  ipSalt: string;
  drawKey: string;
}

export async function trustSecrets(db: D1Database): Promise<TrustSecrets> {
  const { results } = await db.prepare("SELECT name, value FROM trust_secrets WHERE name IN ('ip_salt', 'draw_key')").all<{ name: string; value: string }>();
  const get = (name: string) => {
    const v = results.find((r) => r.name === name)?.value;
    if (!v) throw new Error(`trust secret ${name} is missing: apply migration 0004`);
    return v;
  };
  return { ipSalt: get('ip_salt'), drawKey: get('draw_key') };
}

/**
 * A salted hash of the client's address (CF-Connecting-IP), or null when there is none (tests,
 * local tools) or it is a loopback address: `wrangler dev` reports every local browser as
 * 127.0.0.1, which says nothing about who runs them, and Cloudflare never reports loopback.
 * Only equality is ever needed, so 16 bytes suffice and the address is not kept.
 */
export async function ipHash(salt: string, ip: string | null | undefined): Promise<string | null> {
  if (!ip || isLoopback(ip)) return null;
  return (await sha256(`ip:${salt}:${ip.trim().toLowerCase()}`)).slice(0, 32);
}

/**
 * A uniform number in [0, 1) from the draw key and a purpose: reproducible by the edge (so tests
 * and audits can recompute it) and unpredictable to volunteers, who never see the key.
 */
export async function draw(key: string, purpose: string): Promise<number> {
  const h = await sha256(`draw:${key}:${purpose}`);
  return parseInt(h.slice(0, 13), 16) / 2 ** 52;
}

function isLoopback(ip: string): boolean {
  const a = ip.trim().toLowerCase();
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}
