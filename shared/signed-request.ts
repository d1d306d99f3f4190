// The headers of a signed volunteer request, built once for the browser, the tests and the
// benchmarks: Ed25519 over (method, path, timestamp, SHA-256 of the body) — edge/src/auth.ts checks them.
import { signCanonical } from './crypto.ts';
import { SIGNATURE_HEADERS, signedRequestPayload } from './protocol.ts';

export interface Signer {
  volunteerId: string;
  privateKey: CryptoKey;
  /** Which of the volunteer's keys signs; omitted: the one it registered. */
  publicKey?: string;
}

/**
 * The signature headers for a request whose body hashes to `bodySha256`. `upload`: the body is a
 * large upload the edge authenticates before reading, so its hash is declared in a header too.
 */
export async function signedHeaders(
  signer: Signer,
  method: string,
  path: string,
  bodySha256: string,
  opts: { timestamp?: number; upload?: boolean } = {},
): Promise<Record<string, string>> {
  const timestamp = opts.timestamp ?? Date.now();
  return {
    [SIGNATURE_HEADERS.volunteer]: signer.volunteerId,
    [SIGNATURE_HEADERS.timestamp]: String(timestamp),
    [SIGNATURE_HEADERS.signature]: await signCanonical(
      signer.privateKey,
      signedRequestPayload(method, path, timestamp, bodySha256),
    ),
    ...(signer.publicKey && { [SIGNATURE_HEADERS.key]: signer.publicKey }),
    ...(opts.upload && { [SIGNATURE_HEADERS.bodySha256]: bodySha256 }),
  };
}
