// One simulated volunteer, speaking the edge's protocol as the browser does — register, lease,
// heartbeat, result, spot check, reveal, link a key — over whatever transport its caller has: the
// app itself in the workerd tests, fetch or keep-alive sockets in the benchmarks.
import {
  exportPublicKey,
  generateSigningKey,
  sha256,
  signCanonical,
  volunteerIdFor,
} from './crypto.ts';
import {
  resultFor,
  type Capabilities,
  type HeartbeatRequest,
  type Lease,
  type LeaseRequest,
  type LinkKeyPayload,
  type LinkKeyRequest,
  type Metrics,
  type RegisterPayload,
  type ResultPayload,
  type SpotCheckPayload,
} from './protocol.ts';
import { signedHeaders, type Signer } from './signed-request.ts';
import type { ExperimentSpec } from './spec.ts';

/** The payload a spot checker signs for its lease: the segment's curve, bound to the lease token. */
export function spotCheckFor(
  lease: Pick<Lease, 'leaseId' | 'leaseToken' | 'specHash'>,
  curve: number[],
): SpotCheckPayload {
  return {
    type: 'spot-check',
    leaseId: lease.leaseId,
    leaseToken: lease.leaseToken,
    specHash: lease.specHash,
    curve,
  };
}

/** The request that links `second` to a volunteer: the payload, proven by `second`'s signature over it. */
export async function linkKeyRequest(
  volunteerId: string,
  second: CryptoKeyPair,
): Promise<LinkKeyRequest> {
  const payload: LinkKeyPayload = {
    type: 'link-key',
    volunteerId,
    publicKey: await exportPublicKey(second.publicKey),
    timestamp: Date.now(),
  };
  return { payload, proof: await signCanonical(second.privateKey, payload) };
}

/** The request a transport sends: a subset of fetch's RequestInit, so fetch itself is a transport. */
export interface WireRequest {
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  body: string | Uint8Array<ArrayBuffer>;
}

/** What the client needs of a reply; fetch's Response is one, and a transport may add more (timings). */
export interface WireResponse {
  readonly status: number;
  text(): Promise<string>;
}

/** Sends one request to `path` on the edge. */
export type Transport<R extends WireResponse = WireResponse> = (
  path: string,
  init: WireRequest,
) => Promise<R>;

export interface ClientOptions {
  /** Headers on every request (the volunteer's address, say); per-request ones come after. */
  headers?: Record<string, string>;
  /** Name the signing key in x-tabgrid-key, as the browser does (omitted: the registered key signs). */
  namesKey?: boolean;
  /** The signature timestamp (omitted: Date.now()). */
  timestamp?: () => number;
}

export interface PostOptions {
  /** Signature timestamp of this request (omitted: the client's clock). */
  timestamp?: number;
  /** Signs the headers with this key instead of the volunteer's own. */
  signWith?: CryptoKey;
  /** Changes the body after it was signed (a tampered request). */
  alter?: (body: string) => string;
  /** Sends and signs these exact bytes instead of JSON.stringify(body). */
  raw?: string;
  headers?: Record<string, string>;
}

/** A reply's body: JSON parsed, or the text itself when it is not JSON (an HTML error page, say). */
export function parseBody(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export class VolunteerClient<R extends WireResponse = WireResponse> {
  readonly id: string;
  readonly publicKey: string;
  readonly keys: CryptoKeyPair;
  readonly #send: Transport<R>;
  readonly #options: ClientOptions;

  constructor(
    transport: Transport<R>,
    identity: { id: string; publicKey: string; keys: CryptoKeyPair },
    options: ClientOptions = {},
  ) {
    this.#send = transport;
    this.id = identity.id;
    this.publicKey = identity.publicKey;
    this.keys = identity.keys;
    this.#options = options;
  }

  #signer(privateKey = this.keys.privateKey): Signer {
    return {
      volunteerId: this.id,
      privateKey,
      ...(this.#options.namesKey && { publicKey: this.publicKey }),
    };
  }

  /**
   * A signed JSON POST, built but not sent: callers that must resend it byte for byte (a replayed
   * request) keep it and hand it to send().
   */
  async signedPost(path: string, body: unknown, opts: PostOptions = {}): Promise<WireRequest> {
    const text = opts.raw ?? JSON.stringify(body);
    const signature = await signedHeaders(
      this.#signer(opts.signWith),
      'POST',
      path,
      await sha256(text),
      { timestamp: opts.timestamp ?? this.#options.timestamp?.() },
    );
    return {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...this.#options.headers,
        ...opts.headers,
        ...signature,
      },
      body: opts.alter ? opts.alter(text) : text,
    };
  }

  send(path: string, init: WireRequest): Promise<R> {
    return this.#send(path, init);
  }

  /** A signed JSON POST of `body` to `path`. */
  async post(path: string, body: unknown, opts: PostOptions = {}): Promise<R> {
    return this.send(path, await this.signedPost(path, body, opts));
  }

  /** POST /api/leases: the next experiment for these capabilities. */
  lease(
    capabilities: Capabilities,
    opts: { campaignId?: string; partnerId?: string; headers?: Record<string, string> } = {},
  ): Promise<R> {
    const body: LeaseRequest = {
      campaignId: opts.campaignId,
      partnerId: opts.partnerId,
      capabilities,
    };
    return this.post('/api/leases', body, { headers: opts.headers });
  }

  /** Progress on a lease, which keeps it open. */
  heartbeat(
    lease: Pick<Lease, 'leaseId' | 'leaseToken'>,
    step: number,
    loss: number,
    headers?: Record<string, string>,
  ): Promise<R> {
    const body: HeartbeatRequest = { leaseToken: lease.leaseToken, step, loss };
    return this.post(`/api/leases/${lease.leaseId}/heartbeat`, body, { headers });
  }

  /**
   * A result payload, signed over its canonical form by `signWith` (omitted: the volunteer's key),
   * with the spec it was trained on when given (`spec`: the edge then checks and stores it in one
   * D1 batch; without it, as an outbox from before may hold, in two).
   */
  async submitPayload(
    result: ResultPayload,
    opts: { signWith?: CryptoKey; headers?: Record<string, string>; spec?: ExperimentSpec } = {},
  ): Promise<R> {
    const signature = await signCanonical(opts.signWith ?? this.keys.privateKey, result);
    const body = opts.spec ? { result, signature, spec: opts.spec } : { result, signature };
    return this.post('/api/results', body, { headers: opts.headers });
  }

  /** The result of a lease with these metrics, sent with the lease's spec. */
  submit(lease: Lease, metrics: Metrics, headers?: Record<string, string>): Promise<R> {
    return this.submitPayload(resultFor(lease, metrics), { headers, spec: lease.spec });
  }

  /** A spot-check lease's answer: the segment's curve, to the lease's submitPath. */
  async spotCheck(lease: Lease, curve: number[], headers?: Record<string, string>): Promise<R> {
    if (!lease.spotCheck) throw new Error(`lease ${lease.leaseId} is not a spot check`);
    const result = spotCheckFor(lease, curve);
    const signature = await signCanonical(this.keys.privateKey, result);
    return this.post(lease.spotCheck.submitPath, { result, signature }, { headers });
  }

  /** A checkpoint the edge asked to see (ResultResponse.reveal), uploaded to `path`. */
  async reveal(
    path: string,
    bytes: Uint8Array<ArrayBuffer>,
    headers?: Record<string, string>,
  ): Promise<R> {
    const signature = await signedHeaders(this.#signer(), 'PUT', path, await sha256(bytes), {
      timestamp: this.#options.timestamp?.(),
      upload: true,
    });
    return this.send(path, {
      method: 'PUT',
      headers: {
        'content-type': 'application/octet-stream',
        ...this.#options.headers,
        ...headers,
        ...signature,
      },
      body: bytes,
    });
  }

  /** Links `second` to this volunteer (signed by this volunteer, with a proof by the new key). */
  async linkKey(second: CryptoKeyPair, headers?: Record<string, string>): Promise<R> {
    return this.post('/api/volunteers/keys', await linkKeyRequest(this.id, second), { headers });
  }
}

export interface RegisterOptions extends ClientOptions {
  /** The key to register (omitted: a new one). */
  keys?: CryptoKeyPair;
  displayName?: string;
}

/**
 * Registers a key (POST /api/volunteers), as the browser does, and returns its client with the
 * edge's reply, whatever it was: callers that expect a refusal read it.
 */
export async function register<R extends WireResponse>(
  transport: Transport<R>,
  opts: RegisterOptions = {},
): Promise<{ client: VolunteerClient<R>; response: R }> {
  const keys = opts.keys ?? (await generateSigningKey());
  const publicKey = await exportPublicKey(keys.publicKey);
  const payload: RegisterPayload = {
    type: 'register',
    publicKey,
    ...(opts.displayName !== undefined && { displayName: opts.displayName }),
    timestamp: Date.now(),
  };
  const response = await transport('/api/volunteers', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...opts.headers },
    body: JSON.stringify({ payload, signature: await signCanonical(keys.privateKey, payload) }),
  });
  const id = await volunteerIdFor(publicKey);
  return { client: new VolunteerClient(transport, { id, publicKey, keys }, opts), response };
}

/** A registered volunteer; a refusal, or an id other than the key's, throws. */
export async function newVolunteer<R extends WireResponse>(
  transport: Transport<R>,
  opts: RegisterOptions = {},
): Promise<VolunteerClient<R>> {
  const { client, response } = await register(transport, opts);
  const body = parseBody(await response.text());
  const got = (body as { volunteerId?: unknown } | null)?.volunteerId;
  if (response.status !== 201 || got !== client.id) {
    throw new Error(
      `registration failed: ${response.status} ${typeof body === 'string' ? body : JSON.stringify(body)}`,
    );
  }
  return client;
}
