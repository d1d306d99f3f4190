// The resumable upload of one large dataset file (POST /api/datasets/uploads and its parts): what
// the client and the edge agree on — the part size, how a file splits into parts, and the shapes.
import { z } from 'zod';
import { Sha256Hex } from './spec.ts';

/**
 * What one researcher may upload, enforced by the edge (edge/src/routes/datasets.ts) and checked by
 * the client before it sends anything. The edge holds a whole file in memory while it hashes it, so
 * a file stays well under a Worker's 128 MB (https://developers.cloudflare.com/workers/platform/limits/).
 */
export const DATASET_LIMITS = {
  fileBytes: 32 * 1024 * 1024, // one token file (train or val)
  datasetBytes: 48 * 1024 * 1024, // train + val
  perResearcher: 20, // datasets registered by one researcher
  openUploads: 4, // unfinished resumable uploads of one researcher
  manifestBytes: 1024 * 1024,
};

/**
 * Every part but the last has exactly this size: R2 refuses smaller ones (its multipart minimum is
 * 5 MiB, https://developers.cloudflare.com/r2/objects/multipart-objects/) and wants them equal.
 */
export const PART_BYTES = 5 * 1024 * 1024;

/** Files larger than one part go up in parts; smaller ones in one PUT /api/datasets/files/<sha>. */
export const MULTIPART_THRESHOLD = PART_BYTES;

/** The R2 prefix of dataset files, each stored under its SHA-256 (uploaded and built-in alike). */
export const FILE_PREFIX = 'datasets/';

export function datasetFileKey(sha: string): string {
  return `${FILE_PREFIX}${sha}`;
}

/** The header that carries a part's SHA-256, which the edge checks the part's bytes against. */
export const PART_SHA_HEADER = 'x-part-sha256';

export const UploadStart = z.object({
  sha256: Sha256Hex, // the whole file's
  bytes: z.number().int().positive(),
});
export type UploadStart = z.infer<typeof UploadStart>;

/** An upload as the edge holds it: the parts received so far, by number (1-based), with their hash. */
export interface DatasetUpload {
  id: string;
  sha256: string;
  bytes: number;
  partBytes: number;
  parts: number;
  received: { partNumber: number; sha256: string }[];
}

/** POST /api/datasets/uploads: the upload to send parts to, or none when the file is stored already. */
export interface UploadStarted {
  stored: boolean;
  upload: DatasetUpload | null;
}

export function partCount(bytes: number, partBytes = PART_BYTES): number {
  return Math.max(1, Math.ceil(bytes / partBytes));
}

/** The byte range [start, end) of part `n` (1-based) of a file of `bytes` bytes. */
export function partRange(n: number, bytes: number, partBytes = PART_BYTES): [number, number] {
  return [(n - 1) * partBytes, Math.min(n * partBytes, bytes)];
}
