// Test helpers for the trust rules: volunteers with an address (CF-Connecting-IP) and a backend,
// direct reads of the trust state, and shortcuts that set a volunteer's record without replaying
// dozens of experiments.
import { env } from 'cloudflare:test';
import { verifyChain, type LedgerEntry, type LedgerRow } from '../../shared/ledger.ts';
import type { Capabilities, Lease, Metrics, ResultPayload } from '../../shared/protocol.ts';
import { MIN_WITNESSES } from '../src/trust/policy.ts';
import { sha256 } from '../../shared/crypto.ts';
import { signedHeaders } from '../../shared/signed-request.ts';
import { api, honestMetrics, leaseFrom, newVolunteer } from './helpers.ts';

export interface Peer {
  id: string;
  keys: CryptoKeyPair;
  caps: Capabilities;
  ip: string | null;
  lease(campaignId?: string): Promise<Lease | null>;
  /** Submits metrics for a lease: honest ones at `valBpb` on this peer's backend unless overridden. */
  submit(
    lease: Lease,
    valBpb?: number,
    metrics?: Partial<Metrics>,
    patch?: Partial<ResultPayload>,
  ): Promise<Response>;
  post(path: string, body: unknown): Promise<Response>;
}

/** A registered volunteer that sends `ip` as CF-Connecting-IP on every request (null: none). */
export async function peer(
  caps: Capabilities = { backend: 'wasm' },
  ip: string | null = null,
): Promise<Peer> {
  const v = await newVolunteer('peer', ip ? { 'cf-connecting-ip': ip } : {});
  return {
    id: v.id,
    keys: v.keys,
    caps,
    ip,
    post: (path, body) => v.post(path, body),
    lease: async (campaignId) =>
      leaseFrom(await v.client.lease({ tokensPerSec: 5000, ...caps }, { campaignId })),
    submit: (lease, valBpb = 3.1, metrics = {}, patch = {}) =>
      v.result(
        lease,
        {
          ...honestMetrics(lease.spec, valBpb, caps.backend),
          ...(caps.precision && { precision: caps.precision }),
          ...metrics,
        },
        patch,
      ),
  };
}

export interface ExperimentState {
  status: string;
  valBpb: number | null;
  replicasNeeded: number;
  verification: string | null;
  audit: number;
  reissuedAt: number | null;
}

export function experimentState(id: string): Promise<ExperimentState | null> {
  return env.DB.prepare(
    `SELECT status, val_bpb AS valBpb, replicas_needed AS replicasNeeded, verification, audit, reissued_at AS reissuedAt
     FROM experiments WHERE id = ?`,
  )
    .bind(id)
    .first<ExperimentState>();
}

export async function verdicts(
  experimentId: string,
): Promise<Record<string, { verdict: string; basis: string | null; credit: string }>> {
  const { results } = await env.DB.prepare(
    'SELECT volunteer_id AS v, verdict, basis, credit_state AS credit FROM results WHERE experiment_id = ?',
  )
    .bind(experimentId)
    .all<{ v: string; verdict: string; basis: string | null; credit: string }>();
  return Object.fromEntries(results.map(({ v, ...rest }) => [v, rest]));
}

export interface Standing {
  reputation: number;
  quota: number;
  creditTotal: number;
  cv: number | null;
}

export function standing(volunteerId: string, backendClass = 'wasm'): Promise<Standing | null> {
  return env.DB.prepare(
    `SELECT reputation, lease_quota AS quota, credit_total AS creditTotal,
       (SELECT consecutive_valid FROM volunteer_classes WHERE volunteer_id = v.id AND backend_class = ?2) AS cv
     FROM volunteers v WHERE id = ?1`,
  )
    .bind(volunteerId, backendClass)
    .first<Standing>();
}

/**
 * Gives a volunteer a record: `cv` consecutive verified results in a class, a reputation, and
 * `witnesses` distinct identities (placeholder volunteers on addresses of their own) that verified it.
 */
export async function setRecord(
  volunteerId: string,
  backendClass: string,
  cv: number,
  reputation = Math.min(100, 2 * cv),
  witnesses = MIN_WITNESSES,
): Promise<void> {
  const others = Array.from(
    { length: witnesses },
    (_, i) => `v_${volunteerId.slice(2, 26)}${String(i).padStart(8, '0')}`,
  );
  await env.DB.batch([
    ...others.flatMap((w, i) => [
      env.DB.prepare(
        'INSERT OR IGNORE INTO volunteers (id, public_key, created_at) VALUES (?, ?, 0)',
      ).bind(w, `witness-${w}`),
      env.DB.prepare(
        'INSERT OR IGNORE INTO witnesses (volunteer_id, witness_id, witness_ip, first_at) VALUES (?, ?, ?, 0)',
      ).bind(volunteerId, w, `ip-${w}-${i}`),
    ]),
    env.DB.prepare(
      `INSERT INTO volunteer_classes (volunteer_id, backend_class, consecutive_valid, valid, invalid, updated_at) VALUES (?1, ?2, ?3, ?3, 0, 0)
       ON CONFLICT (volunteer_id, backend_class) DO UPDATE SET consecutive_valid = ?3, valid = ?3`,
    ).bind(volunteerId, backendClass, cv),
    env.DB.prepare('UPDATE volunteers SET reputation = ? WHERE id = ?').bind(
      reputation,
      volunteerId,
    ),
  ]);
}

export async function setDrawKey(key: string): Promise<void> {
  await env.DB.prepare("UPDATE trust_secrets SET value = ? WHERE name = 'draw_key'")
    .bind(key)
    .run();
}

/** A draw key under which `want(u)` holds for every (purpose → want) pair: a seeded, known draw. */
export { findDrawKey } from '../../shared/draw.ts';

export async function ledgerRows(): Promise<LedgerRow[]> {
  const { results } = await env.DB.prepare(
    'SELECT seq, prev_hash AS prevHash, hash, entry FROM ledger ORDER BY seq',
  ).all<LedgerRow>();
  return results;
}

export async function ledgerEntries(): Promise<LedgerEntry[]> {
  return (await ledgerRows()).map((r) => JSON.parse(r.entry) as LedgerEntry);
}

export async function chainOk(): Promise<boolean> {
  return (await verifyChain(await ledgerRows())).ok;
}

/** A volunteer's signed upload of a checkpoint (auth.ts signedUpload). */
export async function put(
  t: Pick<Peer, 'id' | 'keys'>,
  path: string,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  return api(path, {
    method: 'PUT',
    headers: {
      'content-type': 'application/octet-stream',
      ...(await signedHeaders(
        { volunteerId: t.id, privateKey: t.keys.privateKey },
        'PUT',
        path,
        await sha256(bytes),
        { upload: true },
      )),
    },
    body: bytes,
  });
}
