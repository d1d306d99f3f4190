// Per-database secrets (made by migration 0004): the salt of IP hashes and the key of the
// replication draw. Neither ever leaves the edge.
import { sha256 } from '../../../shared/crypto.ts';

export interface TrustSecrets {
  ipSalt: string;
  drawKey: string;
}

export async function trustSecrets(db: D1Database): Promise<TrustSecrets> {
  const { results } = await db
    .prepare("SELECT name, value FROM trust_secrets WHERE name IN ('ip_salt', 'draw_key')")
    .all<{ name: string; value: string }>();
  const get = (name: string) => {
    const v = results.find((r) => r.name === name)?.value;
    if (!v) throw new Error(`trust secret ${name} is missing: apply migration 0004`);
    return v;
  };
  return { ipSalt: get('ip_salt'), drawKey: get('draw_key') };
}

/**
 * A salted hash of the client's network (CF-Connecting-IP), or null when there is none (tests,
 * local tools) or it is a loopback address: `wrangler dev` reports every local browser as
 * 127.0.0.1, which says nothing about who runs them, and Cloudflare never reports loopback.
 * IPv4 counts by address; IPv6 by its /64, which an ISP hands to one customer whole (RFC 6177):
 * one person's many IPv6 addresses are one identity. Only equality is ever needed, so 16 bytes
 * suffice and the address is not kept.
 */
export async function ipHash(salt: string, ip: string | null | undefined): Promise<string | null> {
  if (!ip || isLoopback(ip)) return null;
  return (await sha256(`ip:${salt}:${network(ip)}`)).slice(0, 32);
}

/** An IPv4 address as it is (IPv4-mapped IPv6 too); an IPv6 address as its /64 prefix. */
export function network(ip: string): string {
  const a = ip.trim().toLowerCase().replace(/%.*$/, ''); // no zone id
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!a.includes(':')) return a;
  const halves = a.split('::');
  const part = (s: string) => (s ? s.split(':') : []);
  const [head, tail] = [part(halves[0]!), part(halves[1] ?? '')];
  const missing = 8 - head.length - tail.length;
  const groups =
    halves.length === 2 && missing > 0
      ? [...head, ...Array<string>(missing).fill('0'), ...tail]
      : head;
  // Not an IPv6 address this parser knows (CF-Connecting-IP always is one): the text itself.
  if (halves.length > 2 || groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g)))
    return a;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export { draw } from '../../../shared/draw.ts';

function isLoopback(ip: string): boolean {
  const a = ip.trim().toLowerCase();
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}
