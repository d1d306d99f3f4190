// Talking to the edge: plain JSON calls and signed volunteer calls, with the edge's error sentence
// surfaced as the Error message.
import type { ApiError } from '../../../shared/protocol.ts';
import { VolunteerClient } from '../../../shared/volunteer-client.ts';
import type { StoredIdentity } from './db.ts';

export class EdgeError extends Error {
  readonly code: string;
  readonly status: number;
  readonly issues: NonNullable<ApiError['issues']>; // per-field problems, shown next to form fields
  constructor(status: number, body: Partial<ApiError>) {
    super(body.message ?? `The edge answered ${status}.`);
    this.code = body.error ?? 'unknown';
    this.status = status;
    this.issues = body.issues ?? [];
  }
}

async function parse<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as T & Partial<ApiError>;
  if (!res.ok) throw new EdgeError(res.status, body);
  return body;
}

export async function getJson<T>(path: string): Promise<T> {
  return parse<T>(await fetch(path, { headers: { accept: 'application/json' } }));
}

export async function postJson<T>(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return parse<T>(res);
}

/** The volunteer's client (shared/volunteer-client.ts, as the tests and benchmarks use) over fetch. */
const client = (identity: StoredIdentity) =>
  new VolunteerClient(
    (path, init) => fetch(path, init),
    { id: identity.volunteerId, publicKey: identity.publicKey, keys: identity.keys },
    { namesKey: true }, // a linked key signs for its volunteer: name it
  );

/** A volunteer request signed over (method, path, timestamp, SHA-256 of the exact body bytes). */
export async function postSigned<T>(
  identity: StoredIdentity,
  path: string,
  body: unknown,
): Promise<T> {
  return parse<T>(await client(identity).post(path, body));
}

/** A signed upload of raw bytes (a revealed checkpoint): its hash declared and signed up front. */
export function putSigned(
  identity: StoredIdentity,
  path: string,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  return client(identity).reveal(path, bytes);
}
