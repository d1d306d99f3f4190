// An archive segment: rows as canonical JSON lines, gzipped, named by the SHA-256 of the stored
// bytes. The name is the content, so a segment is never rewritten (a re-run that rebuilds the
// same rows finds the same key) and anyone holding one checks it against its name. No bindings:
// the edge, scripts/ledger-verify.ts and the tests share this file (Node 22 and workerd both have
// CompressionStream and WebCrypto).
import { canonicalJson } from '../../../shared/canonical.ts';
import { sha256 } from '../../../shared/crypto.ts';

/** R2 keys of segments: `archive/<sha256>.ndjson.gz`. */
export const ARCHIVE_PREFIX = 'archive/';

export function segmentKey(sha: string): string {
  return `${ARCHIVE_PREFIX}${sha}.ndjson.gz`;
}

/** A ledger row as archived: every column, so the segment alone rebuilds the table. */
export interface ArchivedEntry {
  seq: number;
  key: string;
  kind: string;
  experimentId: string;
  resultId: string | null;
  volunteerId: string | null;
  entry: string;
  prevHash: string;
  hash: string;
  createdAt: number;
}

export interface EncodedSegment {
  bytes: Uint8Array<ArrayBuffer>;
  sha256: string;
  rows: number;
}

async function pipe(
  bytes: Uint8Array<ArrayBuffer>,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array<ArrayBuffer>> {
  const body = new Response(bytes).body!.pipeThrough(stream);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** One canonical JSON line per row, gzipped; its SHA-256 is its name. */
export async function encodeSegment(rows: object[]): Promise<EncodedSegment> {
  const text = rows.map((r) => canonicalJson(r) + '\n').join('');
  const bytes = await pipe(
    new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>,
    new CompressionStream('gzip'),
  );
  return { bytes, sha256: await sha256(bytes), rows: rows.length };
}

/** A segment whose bytes do not hash to its name, or do not decode. */
export class SegmentError extends Error {
  readonly sha256: string;
  constructor(sha256: string, message: string) {
    super(message);
    this.sha256 = sha256;
  }
}

/** The rows of a segment, after checking that its bytes hash to `expected`. */
export async function decodeSegment<T>(
  bytes: Uint8Array<ArrayBuffer>,
  expected: string,
): Promise<T[]> {
  const actual = await sha256(bytes);
  if (actual !== expected)
    throw new SegmentError(expected, `segment ${expected} hashes to ${actual}: it was altered`);
  try {
    const text = new TextDecoder().decode(await pipe(bytes, new DecompressionStream('gzip')));
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as T);
  } catch (e) {
    throw new SegmentError(
      expected,
      `segment ${expected} does not decode: ${(e as Error).message}`,
    );
  }
}
