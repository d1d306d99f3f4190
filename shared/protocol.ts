// The wire protocol, written once: the edge validates every request with these schemas and the
// browser builds its requests from the same types.
import { z } from 'zod';
import { ExperimentSpec, Sha256Hex } from './spec.ts';

export const PublicKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a base64url Ed25519 public key');
export const Signature = z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'a base64url Ed25519 signature');
export const VolunteerId = z.string().regex(/^v_[0-9a-f]{32}$/);
export const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
export const Backend = z.enum(['webgpu', 'wasm', 'webgl', 'cpu']);
export type Backend = z.infer<typeof Backend>;

/** Signed volunteer requests carry these headers; the signature covers `signedRequestPayload`. */
export const SIGNATURE_HEADERS = {
  volunteer: 'x-tabgrid-volunteer',
  timestamp: 'x-tabgrid-timestamp',
  signature: 'x-tabgrid-signature',
} as const;
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

export function signedRequestPayload(method: string, path: string, timestamp: number, bodySha256: string) {
  return { method: method.toUpperCase(), path, timestamp, bodySha256 };
}

export const RegisterPayload = z
  .object({
    type: z.literal('register'),
    publicKey: PublicKey,
    displayName: z.string().trim().min(1).max(40).optional(),
    timestamp: z.number().int().positive(),
  })
  .strict();
export type RegisterPayload = z.infer<typeof RegisterPayload>;
export const RegisterRequest = z.object({ payload: RegisterPayload, signature: Signature }).strict();
export type RegisterRequest = z.infer<typeof RegisterRequest>;
export interface RegisterResponse {
  volunteerId: string;
  created: boolean;
}

export const Capabilities = z
  .object({
    backend: Backend,
    adapter: z.string().max(200).optional(),
    tokensPerSec: z.number().nonnegative().max(1e9).optional(),
  })
  .strict();
export type Capabilities = z.infer<typeof Capabilities>;

export const LeaseRequest = z.object({ campaignId: Id.optional(), capabilities: Capabilities }).strict();
export type LeaseRequest = z.infer<typeof LeaseRequest>;

export interface Lease {
  leaseId: string;
  leaseToken: string;
  deadline: number; // ms since epoch
  campaignId: string;
  experimentId: string;
  specHash: string;
  spec: ExperimentSpec;
}
export const HeartbeatRequest = z
  .object({ leaseToken: z.string().min(16).max(128), step: z.number().int().nonnegative(), loss: z.number().finite().nonnegative().max(64) })
  .strict();
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;
export interface HeartbeatResponse {
  deadline: number;
}

export type LeaseResponse = { lease: Lease } | { lease: null; retryAfterSec: number };

const Finite = z.number().finite();
export const Metrics = z
  .object({
    valBpb: Finite.positive().max(64),
    valLoss: Finite.positive().max(64),
    curve: z.array(Finite.nonnegative().max(64)).min(1).max(1000),
    steps: z.number().int().positive(),
    tokens: z.number().int().positive(),
    backend: Backend,
    wallMs: Finite.nonnegative(),
    msPerStep: Finite.nonnegative(),
  })
  .strict();
export type Metrics = z.infer<typeof Metrics>;

export const ResultPayload = z
  .object({
    type: z.literal('result'),
    leaseId: Id,
    leaseToken: z.string().min(16).max(128),
    experimentId: Id,
    specHash: Sha256Hex,
    datasetSha256: Sha256Hex,
    metrics: Metrics,
  })
  .strict();
export type ResultPayload = z.infer<typeof ResultPayload>;
export const ResultRequest = z.object({ result: ResultPayload, signature: Signature }).strict();
export type ResultRequest = z.infer<typeof ResultRequest>;

export type ExperimentStatus = 'open' | 'verified' | 'disputed';
export interface ResultResponse {
  resultId: string;
  duplicate: boolean;
  experimentStatus: ExperimentStatus;
}

export interface Campaign {
  id: string;
  name: string;
  brief: string;
  template: string;
  datasetId: string;
  createdAt: number;
  experiments: number;
  verified: number;
}

export interface LeaderboardRow {
  experimentId: string;
  valBpb: number;
  config: ExperimentSpec;
  verified: true;
  replicas: number;
  backends: Backend[];
  volunteers: string[];
  verifiedAt: number;
}

/** Every refusal: a stable code and a sentence. */
export interface ApiError {
  error: string;
  message: string;
  issues?: { path: string; message: string }[]; // per-field problems, when the refusal has them
}
