// SHA-256 and Ed25519 through WebCrypto, so one piece of code runs in the browser, workerd and Node.
import { canonicalBytes } from './canonical.ts';

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError('not base64url');
  const b64 = text.replaceAll('-', '+').replaceAll('_', '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export async function sha256(data: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const bytes =
    typeof data === 'string' ? (new TextEncoder().encode(data) as Uint8Array<ArrayBuffer>) : data;
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

/** SHA-256 of the canonical JSON of a value: the identity of specs, manifests and bodies. */
export function hashCanonical(value: unknown): Promise<string> {
  return sha256(canonicalBytes(value));
}

export function randomToken(bytes = 32): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

const ED25519 = { name: 'Ed25519' } as const;

/** A new signing identity; the private key is non-extractable, so it never leaves its store. */
export function generateSigningKey(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ED25519, false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

export async function exportPublicKey(key: CryptoKey): Promise<string> {
  return toBase64Url(new Uint8Array((await crypto.subtle.exportKey('raw', key)) as ArrayBuffer));
}

/** Volunteer ids are derived from the key: `v_` + the first 16 bytes of SHA-256(raw public key). */
export async function volunteerIdFor(publicKey: string): Promise<string> {
  return 'v_' + (await sha256(fromBase64Url(publicKey))).slice(0, 32);
}

export async function signCanonical(privateKey: CryptoKey, value: unknown): Promise<string> {
  const sig = await crypto.subtle.sign(ED25519, privateKey, canonicalBytes(value));
  return toBase64Url(new Uint8Array(sig));
}

/** False for any malformed key or signature as well as for a wrong one: callers only need yes/no. */
export async function verifyCanonical(
  publicKey: string,
  signature: string,
  value: unknown,
): Promise<boolean> {
  try {
    const raw = fromBase64Url(publicKey);
    const sig = fromBase64Url(signature);
    if (raw.length !== 32 || sig.length !== 64) return false;
    const key = await crypto.subtle.importKey('raw', raw, ED25519, false, ['verify']);
    return await crypto.subtle.verify(ED25519, key, sig, canonicalBytes(value));
  } catch {
    return false;
  }
}
