// Test helpers: real Ed25519 volunteers, signed requests against the real app and D1.
import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import { sha256 } from '../../shared/crypto.ts';
import { PRESETS } from '../../shared/model/presets.ts';
import type { ApiError, Lease, Metrics, ResultPayload } from '../../shared/protocol.ts';
import { resultFor } from '../../shared/protocol.ts';
import { signedHeaders as sharedSignedHeaders } from '../../shared/signed-request.ts';
import { curveLength, tokenBudget, type ExperimentSpec } from '../../shared/spec.ts';
import {
  newVolunteer as registerVolunteer,
  type VolunteerClient,
} from '../../shared/volunteer-client.ts';
import { campaignStatements, type NewCampaign } from '../src/db/campaigns.ts';
import app from '../src/index.ts';
import { tableSnapshot, withoutReplayGuard, type Snapshot } from './snapshot.ts';

export const DATASET_SHA = 'a'.repeat(64);

export function tinySpec(seed = 1): ExperimentSpec {
  const p = PRESETS.tiny;
  return {
    template: 'gpt-char',
    dataset: { id: 'test', sha256: DATASET_SHA },
    model: { ...p.model, vocabSize: 40 },
    train: p.train,
    seed,
    evalWindows: p.evalWindows,
  };
}

export async function insertCampaign(db: D1Database, c: NewCampaign): Promise<void> {
  const statements = await campaignStatements(c);
  await db.batch(statements.map((s) => db.prepare(s.sql).bind(...s.params)));
}

/** A campaign of `experiments` tiny ones, in shard 0 unless `db` names another shard's binding. */
export async function seedCampaign(
  id = 'c1',
  experiments = 2,
  { db = env.DB, createdAt = Date.now() }: { db?: D1Database; createdAt?: number } = {},
): Promise<void> {
  await insertCampaign(db, {
    id,
    name: `Campaign ${id}`,
    brief: 'A test campaign.',
    template: 'gpt-char',
    datasetId: 'test',
    createdAt,
    specs: Array.from({ length: experiments }, (_, i) => tinySpec(i + 1)),
  });
}

/** A registered partner site (shard 0, where partners live), as `npm run partner` adds one. */
export async function seedPartner(
  id: string,
  name: string,
  origins: string[] = ['https://news.example'],
): Promise<void> {
  await env.DB.prepare(
    'INSERT INTO partners (id, name, origins_json, created_at) VALUES (?, ?, ?, ?)',
  )
    .bind(id, name, JSON.stringify(origins), Date.now())
    .run();
}

export async function api(path: string, init?: RequestInit): Promise<Response> {
  return app.request(`http://localhost${path}`, init, env);
}

/** GETs `path`, expects 200, and returns its JSON body. */
export async function getJson<T>(path: string): Promise<T> {
  const res = await api(path);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

export function json(body: unknown, extra: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...extra },
    body: JSON.stringify(body),
  };
}

let lastTimestamp = 0;

/**
 * Now, but strictly increasing: Ed25519 signatures are deterministic, so two identical requests
 * signed in the same millisecond would be one request to the replay guard.
 */
export function nextTimestamp(): number {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return lastTimestamp;
}

/** The three signature headers of a volunteer request over these exact body bytes. */
export async function signedHeaders(
  volunteerId: string,
  keys: CryptoKeyPair,
  method: string,
  path: string,
  body: string | Uint8Array<ArrayBuffer>,
  timestamp = nextTimestamp(),
): Promise<Record<string, string>> {
  return sharedSignedHeaders(
    { volunteerId, privateKey: keys.privateKey },
    method,
    path,
    await sha256(body),
    { timestamp },
  );
}

export interface TestVolunteer {
  id: string;
  publicKey: string;
  keys: CryptoKeyPair;
  /** The shared volunteer client this one wraps, for requests the shortcuts below do not cover. */
  client: VolunteerClient<Response>;
  post(
    path: string,
    body: unknown,
    opts?: {
      timestamp?: number;
      signWith?: CryptoKeyPair;
      alter?: (body: string) => string;
      raw?: string;
    },
  ): Promise<Response>;
  lease(
    backend?: Metrics['backend'],
    campaignId?: string,
    partnerId?: string,
  ): Promise<Lease | null>;
  result(
    lease: Lease,
    metrics?: Partial<Metrics>,
    patch?: Partial<ResultPayload>,
  ): Promise<Response>;
}

/** The lease in a 200 reply to POST /api/leases; any other reply throws. */
export async function leaseFrom(res: Response): Promise<Lease | null> {
  if (res.status !== 200) throw new Error(`lease failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { lease: Lease | null }).lease;
}

/** A registered volunteer; `headers` go on every request it sends (an address, say). */
export async function newVolunteer(
  displayName = 'tester',
  headers: Record<string, string> = {},
): Promise<TestVolunteer> {
  const client = await registerVolunteer(api, { displayName, headers, timestamp: nextTimestamp });
  return {
    id: client.id,
    publicKey: client.publicKey,
    keys: client.keys,
    client,
    post: (path, body, opts = {}) =>
      client.post(path, body, { ...opts, signWith: opts.signWith?.privateKey }),
    lease: async (backend = 'wasm', campaignId, partnerId) =>
      leaseFrom(await client.lease({ backend, tokensPerSec: 5000 }, { campaignId, partnerId })),
    result: (lease, metrics = {}, patch = {}) =>
      client.submitPayload(resultPayload(lease, metrics, patch), { spec: lease.spec }),
  };
}

export function honestMetrics(
  spec: ExperimentSpec,
  valBpb = 3.1,
  backend: Metrics['backend'] = 'wasm',
): Metrics {
  return {
    valBpb,
    valLoss: valBpb * Math.LN2,
    curve: Array.from({ length: curveLength(spec.train) }, (_, i) => 3.5 - 0.1 * i),
    steps: spec.train.steps,
    tokens: tokenBudget(spec),
    backend,
    wallMs: 1000,
    msPerStep: 30,
  };
}

export function resultPayload(
  lease: Lease,
  metrics: Partial<Metrics> = {},
  patch: Partial<ResultPayload> = {},
): ResultPayload {
  return { ...resultFor(lease, { ...honestMetrics(lease.spec), ...metrics }), ...patch };
}

/**
 * Row counts and content hashes of every table but the replay guard's (see snapshot.ts): a
 * refused request must leave all of them unchanged.
 */
export async function snapshot(): Promise<Snapshot> {
  return withoutReplayGuard(await tableSnapshot());
}

export const RESEARCHER_TOKEN = 'researcher-token-for-tests-0123456789';

/** A researcher with a known token and the `test` dataset registered. */
export async function seedResearcher(): Promise<void> {
  await env.DB.batch([
    env.DB.prepare(
      'INSERT INTO researchers (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)',
    ).bind('r_test', 'Test Lab', await sha256(RESEARCHER_TOKEN), Date.now()),
    env.DB.prepare(
      'INSERT INTO datasets (id, manifest_sha256, vocab_size, name, registered_at) VALUES (?, ?, ?, ?, ?)',
    ).bind('test', DATASET_SHA, 40, 'Test text', Date.now()),
  ]);
}

export const OTHER_TOKEN = 'another-researcher-token-0123456789';

/** A second researcher (r_other, OTHER_TOKEN), to be refused what is the first one's. */
export async function seedOtherResearcher(): Promise<void> {
  await env.DB.prepare(
    'INSERT INTO researchers (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)',
  )
    .bind('r_other', 'Other Lab', await sha256(OTHER_TOKEN), Date.now())
    .run();
}

/** A refusal's body, checked: JSON, a stable snake_case code and a sentence (capital to full stop). */
export async function readRefusal(res: Response): Promise<ApiError> {
  expect(res.headers.get('content-type')).toMatch(/^application\/json\b/);
  const body = (await res.json()) as ApiError;
  expect(body.error).toMatch(/^[a-z_]+$/);
  expect(body.message).toMatch(/^[A-Z][^\n]*\w \w[^\n]*\.$/);
  return body;
}

/** A refusal with this status and code (its body checked as readRefusal does). */
export async function expectRefusal(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  expect((await readRefusal(res)).error).toBe(code);
}
