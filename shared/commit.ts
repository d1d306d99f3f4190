// Checkpoint commitments: a result commits, with SHA-256, to its full training state at fixed
// steps, so that a spot checker can later be handed one committed checkpoint, train the next
// segment from it and compare. A commitment binds everything a resume needs (weights, AdamW
// moments, the batch RNG) and every training loss so far. Weights diverge across backends
// (PITFALLS: 38–55 % relative L2) so commitments are never compared between replicas — only a
// revealed checkpoint against its own commitment.
import { canonicalBytes } from './canonical.ts';
import { sha256 } from './crypto.ts';
import type { Metrics, Precision } from './protocol.ts';
import type { RngState } from './rng.ts';
import { curveLength, type ExperimentSpec, type TrainConfig } from './spec.ts';

/** At most this many commitments per result (the Metrics schema's bound). */
export const MAX_COMMITMENTS = 16;

/**
 * The early window: float32 backends (cpu / wasm / WebGPU) stayed within ~4e-6 nats of each other
 * for the first 200 steps of the same seed and data (PITFALLS), long before weights and final
 * metrics drift apart (0.005–0.028 nats after 400 steps). Within it, segment means must agree to
 * TAU_SPOT — a 250× margin — while a different seed, data order or a fabricated curve moves them by
 * about the batch noise (~1e-2). This applies to replicas of each other (edge/src/trust/judge.ts)
 * and to spot checks. Not to dropout (masks are drawn per backend) nor to float16 paths, which
 * were not measured. Both constants to be calibrated with TAU_BPB / TAU_CURVE.
 */
export const EARLY_STEPS = 200;
export const TAU_SPOT = 1e-3;

/** How many leading loss-curve segments fall in the early window for this spec and precision. */
export function earlySegments(spec: Pick<ExperimentSpec, 'model' | 'train'>, precision: Precision | undefined | null): number {
  if (spec.model.dropout > 0 || precision === 'float16') return 0;
  return Math.min(curveLength(spec.train), Math.floor(EARLY_STEPS / spec.train.curveEvery));
}

/** Whether two curves agree to TAU_SPOT on their first `segments` points. */
export function earlyAgree(a: number[], b: number[], segments: number): boolean {
  for (let i = 0; i < segments; i++) if (!(Math.abs(a[i]! - b[i]!) <= TAU_SPOT)) return false;
  return true;
}

/**
 * The steps whose checkpoints are committed: the loss-curve segment boundaries (every
 * `curveEvery` steps, and the last step), thinned evenly to at most MAX_COMMITMENTS, always
 * ending with the final step. Pure integer arithmetic: every runtime gets the same list.
 */
export function commitSteps(train: TrainConfig): number[] {
  const n = curveLength(train);
  const boundary = (k: number) => Math.min((k + 1) * train.curveEvery, train.steps);
  if (n <= MAX_COMMITMENTS) return Array.from({ length: n }, (_, k) => boundary(k));
  return Array.from({ length: MAX_COMMITMENTS }, (_, j) => boundary(Math.floor(((j + 1) * n) / MAX_COMMITMENTS) - 1));
}

/** The training state at a step: structurally the trainer's TrainCheckpoint (shared/train/loop.ts). */
export interface CommittedState {
  step: number;
  losses: number[]; // the training loss of every step so far (length = step)
  weights: Float32Array[]; // in GPT.params order
  optimizer: { t: number; m: Float32Array[]; v: Float32Array[] };
  batchRng: RngState;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The IEEE-754 little-endian bytes of a float32 array, whatever the host's byte order. */
function float32Bytes(a: Float32Array): Uint8Array<ArrayBuffer> {
  if (littleEndian) return new Uint8Array(a.slice().buffer);
  const out = new DataView(new ArrayBuffer(a.length * 4));
  a.forEach((x, i) => out.setFloat32(i * 4, x, true));
  return new Uint8Array(out.buffer);
}

function tensorHashes(ts: Float32Array[]): Promise<string[]> {
  return Promise.all(ts.map((t) => sha256(float32Bytes(t))));
}

/**
 * The commitment: SHA-256 of the canonical JSON (RFC 8785) of a header that holds the spec hash,
 * the step, every loss so far, the RNG state, AdamW's step count, and the SHA-256 of each tensor's
 * little-endian float32 bytes (weights, then first moments, then second moments). Hashing per
 * tensor keeps memory flat and lets a blob store keep each tensor by its own hash.
 */
export async function checkpointCommitment(specHash: string, s: CommittedState): Promise<string> {
  if (s.losses.length !== s.step) throw new Error(`a checkpoint at step ${s.step} must carry ${s.step} losses, not ${s.losses.length}`);
  const header = {
    type: 'tabgrid-checkpoint',
    version: 1,
    specHash,
    step: s.step,
    losses: s.losses,
    batchRng: s.batchRng,
    adamT: s.optimizer.t,
    sizes: s.weights.map((w) => w.length),
    weights: await tensorHashes(s.weights),
    adamM: await tensorHashes(s.optimizer.m),
    adamV: await tensorHashes(s.optimizer.v),
  };
  return sha256(canonicalBytes(header));
}

/** Why a result's commitments do not fit its spec, or null. Results without commitments pass. */
export function commitmentIssue(spec: ExperimentSpec, metrics: Pick<Metrics, 'commitments'>): string | null {
  if (!metrics.commitments) return null;
  const want = commitSteps(spec.train).length;
  if (metrics.commitments.length !== want) return `The result carries ${metrics.commitments.length} checkpoint commitments; the spec fixes ${want}.`;
  if (new Set(metrics.commitments).size !== want) return 'The result commits to the same checkpoint hash twice.';
  return null;
}

/** Spot-check agreement: each segment mean within TAU_SPOT of the committed result's curve. */
export function spotCheckAgrees(expected: number[], observed: number[]): boolean {
  return expected.length === observed.length && expected.every((x, i) => Math.abs(x - observed[i]!) <= TAU_SPOT);
}
