// The wire protocol, written once: the edge validates every request with these schemas and the
// browser builds its requests from the same types.
import { z } from 'zod';
import { displayText } from './display-text.ts';
import { ExperimentSpec, Sha256Hex } from './spec.ts';
import type { Strategy } from './asha.ts';

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
  key: 'x-tabgrid-key', // optional: which of the volunteer's keys signed (default: the one it registered)
  /**
   * An upload too large to read before it is authenticated (a revealed checkpoint) declares its
   * bytes' SHA-256 here and signs that; the edge checks the bytes against it as they arrive.
   */
  bodySha256: 'x-tabgrid-body-sha256',
} as const;
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/**
 * Locally, the header in which a front standing in for Cloudflare's (a benchmark, a browser test)
 * proves with a per-run secret that the CF-Connecting-IP it sends may be believed
 * (edge/src/client-address.ts).
 */
export const LOCAL_FRONT_HEADER = 'x-tabgrid-front';

export function signedRequestPayload(
  method: string,
  path: string,
  timestamp: number,
  bodySha256: string,
) {
  return { method: method.toUpperCase(), path, timestamp, bodySha256 };
}

export const RegisterPayload = z
  .object({
    type: z.literal('register'),
    publicKey: PublicKey,
    displayName: displayText(1, 40).optional(),
    timestamp: z.number().int().positive(),
  })
  .strict();
export type RegisterPayload = z.infer<typeof RegisterPayload>;
export const RegisterRequest = z
  .object({ payload: RegisterPayload, signature: Signature })
  .strict();
export type RegisterRequest = z.infer<typeof RegisterRequest>;

/**
 * Linking another key to a volunteer, so that an identity can move to another browser: sent as a
 * signed volunteer request (by a key the volunteer already has), with `proof` signed by the new key.
 */
export const LinkKeyPayload = z
  .object({
    type: z.literal('link-key'),
    volunteerId: VolunteerId,
    publicKey: PublicKey,
    timestamp: z.number().int().positive(),
  })
  .strict();
export type LinkKeyPayload = z.infer<typeof LinkKeyPayload>;
export const LinkKeyRequest = z.object({ payload: LinkKeyPayload, proof: Signature }).strict();
export type LinkKeyRequest = z.infer<typeof LinkKeyRequest>;
/** Keys one volunteer may hold at once (its first plus linked ones). */
export const MAX_KEYS_PER_VOLUNTEER = 8;
export interface RegisterResponse {
  volunteerId: string;
  created: boolean;
}

/** Float precision of the training path: WebGL without float32 render targets trains in float16. */
export const Precision = z.enum(['float32', 'float16']);
export type Precision = z.infer<typeof Precision>;
/** The browser engine, so that replicas can be steered to another one (optional, self-reported). */
export const Browser = z.enum(['chromium', 'firefox', 'safari', 'other']);
export type Browser = z.infer<typeof Browser>;

/**
 * precision: omitted means float32. browser: for replica steering. spotChecks: the client can
 * run spot-check leases (`Lease.kind === 'spot-check'`); clients that omit it never get one.
 */
export const Capabilities = z
  .object({
    backend: Backend,
    adapter: z.string().max(200).optional(),
    tokensPerSec: z.number().nonnegative().max(1e9).optional(),
    precision: Precision.optional(),
    browser: Browser.optional(),
    spotChecks: z.boolean().optional(),
  })
  .strict();
export type Capabilities = z.infer<typeof Capabilities>;

export const PartnerId = z
  .string()
  .regex(/^[a-z0-9-]{1,40}$/, 'a partner id: 1–40 lowercase letters, digits or -');
/** partnerId: the partner site whose widget the volunteer computes through, for attribution. */
export const LeaseRequest = z
  .object({
    campaignId: Id.optional(),
    partnerId: PartnerId.optional(),
    capabilities: Capabilities,
  })
  .strict();
export type LeaseRequest = z.infer<typeof LeaseRequest>;

export interface Lease {
  leaseId: string;
  leaseToken: string;
  deadline: number; // ms since epoch
  campaignId: string;
  experimentId: string;
  specHash: string;
  spec: ExperimentSpec;
  /** Omitted: a replica (train the whole spec, POST /api/results). */
  kind?: 'replica' | 'spot-check';
  /**
   * For a spot check: train steps [fromStep, toStep) of the spec (counted from its lineage's start)
   * — from the checkpoint at `checkpointPath` when given (GET it with the lease token in
   * x-tabgrid-lease-token), else from the seed, or a continuation's parent checkpoint — and POST
   * the segment means to `submitPath`.
   */
  spotCheck?: { fromStep?: number; toStep: number; submitPath: string; checkpointPath?: string };
}
export const HeartbeatRequest = z
  .object({
    leaseToken: z.string().min(16).max(128),
    step: z.number().int().nonnegative(),
    loss: z.number().finite().nonnegative().max(64),
  })
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
    precision: Precision.optional(), // omitted = float32
    // SHA-256 commitments to the checkpoints at shared/commit.ts's commitSteps, in step order
    commitments: z.array(Sha256Hex).min(1).max(16).optional(),
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
    // A continuation's claim of the checkpoint it trained from (the spec's parent), so that a result
    // from any other starting point is refused by name (parent_mismatch), not only by its spec hash.
    parentCheckpointSha256: Sha256Hex.optional(),
    metrics: Metrics,
  })
  .strict();
export type ResultPayload = z.infer<typeof ResultPayload>;
/** The payload a volunteer signs for its lease: bound to the lease token, spec and dataset. */
export function resultFor(lease: Lease, metrics: Metrics): ResultPayload {
  return {
    type: 'result',
    leaseId: lease.leaseId,
    leaseToken: lease.leaseToken,
    experimentId: lease.experimentId,
    specHash: lease.specHash,
    datasetSha256: lease.spec.dataset.sha256,
    ...(lease.spec.parent && { parentCheckpointSha256: lease.spec.parent.checkpointSha256 }),
    metrics,
  };
}
/**
 * `spec`: the spec the result was trained on, as the lease gave it. Not signed — the signed
 * `specHash` binds it — and optional (an outbox may hold results from before it was sent); with
 * it, the edge checks the result against its spec before reading the lease (docs/scale.md).
 */
export const ResultRequest = z
  .object({ result: ResultPayload, signature: Signature, spec: ExperimentSpec.optional() })
  .strict();
export type ResultRequest = z.infer<typeof ResultRequest>;

export type ExperimentStatus = 'open' | 'verified' | 'disputed';
/** The header a spot checker sends its lease token in, to download the revealed checkpoint. */
export const LEASE_TOKEN_HEADER = 'x-tabgrid-lease-token';

export interface ResultResponse {
  resultId: string;
  duplicate: boolean;
  experimentStatus: ExperimentStatus;
  /**
   * A spot check of this result asks for the committed checkpoint at `step`: PUT its blob
   * (shared/commit.ts encodeCheckpoint) to `path` as application/octet-stream.
   */
  reveal?: { spotCheckId: string; step: number; path: string };
  /**
   * A lineage's result (docs/lineage.md): PUT the final checkpoint it committed to (the last
   * commitment, at `step`) to `path`, so that a child can continue from it.
   */
  checkpoint?: { step: number; path: string };
}

/** Where anyone downloads a kept lineage checkpoint by its hash (immutable: content-addressed). */
export const lineageCheckpointPath = (sha256: string) => `/api/checkpoints/${sha256}`;
/** Where a lineage result's volunteer uploads its final checkpoint. */
export const finalCheckpointPath = (resultId: string) => `/api/results/${resultId}/checkpoint`;

/** An experiment's place in its lineage: its parent, its children and its kept checkpoint. */
export interface LineageNode {
  id: string;
  parentId: string | null;
  depth: number;
  status: ExperimentStatus;
  valBpb: number | null;
  startStep: number;
  steps: number;
  flops: number; // the experiment's own training FLOPs (its segment's)
  curve: number[] | null; // the canonical replica's segment curve, once verified
  curveEvery: number;
  checkpointSha256: string | null;
  checkpointKept: boolean;
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
  engines: string[]; // the browser engines of the agreeing replicas, as their leases reported them
  volunteers: string[];
  verifiedAt: number;
}

/** A partner site that embeds the widget: its public name and what came through it. */
export interface PartnerStats {
  id: string;
  name: string;
  createdAt: number;
  experiments: number; // distinct experiments with a result submitted through the partner's widget
  verifiedResults: number; // of those results, the ones a quorum verified
  tokensTrained: number; // the verified results' fixed budgets (steps × batch × context), summed
  volunteers: number; // distinct volunteers with a verified result through the widget
}

/** Every refusal: a stable code and a sentence. */
export interface ApiError {
  error: string;
  message: string;
  issues?: { path: string; message: string }[]; // per-field problems, when the refusal has them
}

// ——— Researcher views: campaign progress, live updates, experiments, standings, the corpus ———

/** A verified experiment on a campaign leaderboard, with how closely its replicas agreed. */
export interface LeaderboardEntry extends LeaderboardRow {
  idx: number; // the experiment's place in its campaign
  spread: number; // max − min val_bpb of the agreeing replicas (compare with TAU_BPB)
  results: number; // every result received, agreeing or not
  wallMs: number; // mean training wall time of the agreeing replicas
}

/** Where a campaign's experiments are, and when the current fleet would finish the rest. */
export interface CampaignProgress {
  experiments: number;
  queued: number; // open, nobody training it
  running: number; // open, first replica being trained
  awaitingReplica: number; // open, at least one result, not yet agreed
  verified: number;
  disputed: number;
  remainingTokens: number; // training tokens of the replicas still needed
  fleet: { volunteers: number; tokensPerSec: number }; // volunteers holding a live lease here now
  etaSeconds: number | null; // remainingTokens / fleet rate; null without an active fleet
  updatedAt: number;
}

/** The mean training-loss curve of an experiment's agreeing replicas, one point per `curveEvery` steps. */
export interface ExperimentCurve {
  experimentId: string;
  valBpb: number;
  curveEvery: number;
  curve: number[];
}

/** Messages from a campaign hub to its open pages (WebSocket, JSON text frames). */
export type LiveEvent =
  | { type: 'progress'; campaignId: string; progress: CampaignProgress }
  | {
      type: 'verified';
      campaignId: string;
      row: LeaderboardEntry;
      curve: ExperimentCurve;
      progress: CampaignProgress;
    };

export type ResultVerdict = 'pending' | 'valid' | 'invalid';
/** How a verdict was reached (edge/src/trust/judge.ts). */
export type VerdictBasis =
  'quorum' | 'trusted-single' | 'outvoted' | 'copy' | 'overturned' | 'late';

export interface ReplicaDetail {
  resultId: string;
  volunteerId: string;
  displayName: string | null;
  verdict: ResultVerdict;
  submittedAt: number;
  browser: string | null; // the engine its lease reported (Capabilities.browser), or null
  /**
   * Null while the experiment is open: nothing of an unsettled result is readable by anyone but the
   * edge, so that no replica can copy another's metrics (docs/trust.md, "Sealed until settled").
   */
  metrics: Metrics | null;
}

export interface ExperimentDetail {
  id: string;
  campaignId: string;
  campaignName: string;
  idx: number;
  status: ExperimentStatus;
  spec: ExperimentSpec;
  specHash: string;
  valBpb: number | null;
  verifiedAt: number | null;
  flops: number;
  tokens: number;
  quorum: number;
  replicasNeeded: number;
  replicas: ReplicaDetail[];
  tolerance: { bpb: number; curve: number }; // shared/verify.ts's TAU_BPB and TAU_CURVE
  reproduce: string; // the command that retrains it locally and compares
  /** Its whole lineage (root first, by depth), itself included; a root without children: itself. */
  lineage: LineageNode[];
}

export interface VolunteerStanding {
  volunteerId: string;
  displayName: string | null;
  credit: number; // FLOPs granted for the verified experiments this volunteer's results agreed on
  recentAverageCredit: number; // FLOPs per day, exponentially decayed (BOINC's RAC, half-life 7 days)
  verifiedExperiments: number;
  rejectedResults: number; // results outvoted by a quorum
  reputation: number | null; // the trust ledger's, −100…100 (edge/src/trust/policy.ts)
}

export interface CampaignStanding {
  id: string;
  name: string;
  experiments: number;
  verified: number;
  disputed: number;
  bestValBpb: number | null;
  bestExperimentId: string | null;
  volunteers: number; // distinct volunteers with an agreeing result
  credit: number; // FLOPs verified
  lastVerifiedAt: number | null;
}

export interface DatasetSummary {
  id: string;
  name: string;
  vocabSize: number;
  manifestSha256: string;
}

/** One line of `GET /api/corpus?format=jsonl`: a verified experiment, everything needed to reuse it. */
export interface CorpusRecord {
  experimentId: string;
  campaignId: string;
  specHash: string;
  seed: number;
  config: Record<string, number>; // the searchable hyperparameters, flat (shared/importance.ts)
  spec: ExperimentSpec;
  metrics: { valBpb: number; curve: number[]; curveEvery: number; tokens: number; flops: number };
  verifiedAt: number;
  parentId: string | null; // the experiment it continued from (spec.parent), or null for a root
  checkpointSha256: string | null; // its canonical final checkpoint, when it is part of a lineage
  replicas: {
    resultId: string;
    volunteerId: string;
    verdict: ResultVerdict;
    submittedAt: number;
    metrics: Metrics;
  }[];
}

// ——— Trust: spot checks and a volunteer's standing (edge/src/trust) ———

/** A spot check's outcome: the segment means of the training loss over steps [fromStep, toStep). */
export const SpotCheckPayload = z
  .object({
    type: z.literal('spot-check'),
    leaseId: Id,
    leaseToken: z.string().min(16).max(128),
    specHash: Sha256Hex,
    curve: z.array(Finite.nonnegative().max(64)).min(1).max(1000),
  })
  .strict();
export type SpotCheckPayload = z.infer<typeof SpotCheckPayload>;
export const SpotCheckRequest = z
  .object({ result: SpotCheckPayload, signature: Signature })
  .strict();
export type SpotCheckRequest = z.infer<typeof SpotCheckRequest>;
export interface SpotCheckResponse {
  spotCheckId: string;
  duplicate: boolean;
}

/** GET /api/volunteers/:id — what the trust rules currently say about one volunteer. */
export interface VolunteerTrust {
  volunteerId: string;
  displayName: string | null;
  createdAt: number;
  reputation: number; // −100..+100
  openLeaseQuota: number;
  /**
   * 1 + volunteers with more credit (ties share a rank); null without credit, and null where several
   * D1 shards hold over 1,000 volunteers near this one's credit (edge/src/db/fan-out-volunteers.ts).
   */
  rank: number | null;
  credit: {
    total: number; // FLOPs of verified results, revocations subtracted
    recentAverage: number; // FLOPs per day, exponentially decayed with a 7-day half-life (BOINC's RAC)
    halfLifeDays: number;
  };
  results: { valid: number; invalid: number; pending: number; trustedSingle: number };
  classes: {
    backendClass: string;
    consecutiveValid: number;
    valid: number;
    invalid: number;
    replicationProbability: number;
  }[];
}

/** What a campaign page reads on load and after every reconnect (GET /api/campaigns/:id/snapshot). */
export interface CampaignSnapshot {
  campaign: Campaign;
  progress: CampaignProgress;
  rows: LeaderboardEntry[];
  leaders: ExperimentCurve[]; // mean loss curves of the best few, best first
  /**
   * A lineage or adaptive campaign's experiments as lineages (docs/lineage.md), and its strategy
   * (null: random search); [] for a campaign without lineages.
   */
  lineages: LineageNode[];
  strategy: Strategy | null;
}
