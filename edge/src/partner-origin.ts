// The one rule for a partner's origin, shared by the operator command (scripts/partner.ts) and the
// edge, which re-checks stored origins before they reach a CSP header. Pure: no bindings.

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The serialized origin of `input` (`https://host[:port]`), or null when it is not one: a path,
 * query, credentials or another scheme. Plain http only for loopback hosts: an http page cannot
 * give the framed widget a secure context (no WebCrypto there), so it could not work anyway.
 */
export function partnerOrigin(input: string): string | null {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return null;
  }
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/') return null;
  // Letters, digits, dots and dashes (IDNs arrive as punycode), or an IPv6 literal: no CSP wildcards.
  if (!/^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname)) return null;
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname)))
    return url.origin;
  return null;
}
