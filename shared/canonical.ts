// Canonical JSON (RFC 8785, JCS): the only bytes Tabgrid ever hashes or signs.
// The `canonicalize` package is the RFC authors' reference implementation.
import canonicalizeImpl from 'canonicalize';

/** RFC 8785 serialisation; throws on values JSON cannot represent (undefined, NaN, Infinity). */
export function canonicalJson(value: unknown): string {
  if (!isRepresentable(value)) throw new TypeError('value is not representable as canonical JSON');
  const out = canonicalizeImpl(value);
  if (out === undefined) throw new TypeError('value is not representable as canonical JSON');
  return out;
}

export function canonicalBytes(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(canonicalJson(value)) as Uint8Array<ArrayBuffer>;
}

function isRepresentable(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isRepresentable);
  if (typeof value === 'object') {
    return Object.values(value as Record<string, unknown>).every(
      (v) => v === undefined || isRepresentable(v),
    );
  }
  return false;
}
