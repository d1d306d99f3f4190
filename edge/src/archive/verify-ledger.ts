// The whole ledger from seq 1 when its sealed prefix lives in R2: each segment must hash to its
// recorded name, hold exactly the seqs, predecessor hash and head hash its index row says, and the
// segments followed by D1's entries must form one chain (shared/ledger.ts verifyChain). Used by
// `npm run ledger:verify` against a local persist dir, and by the archive tests in workerd.
import { verifyChain, type ChainCheck, type LedgerRow } from '../../../shared/ledger.ts';
import { decodeSegment, SegmentError, type ArchivedEntry } from './segment.ts';

/** A ledger segment's index row (archive_segments, kind 'ledger'). */
export interface LedgerSegmentRecord {
  sha256: string;
  firstSeq: number;
  lastSeq: number;
  prevHash: string;
  headHash: string;
}

/**
 * Checks the archived segments (in seq order, with their bytes) and then D1's `hot` entries; `rows`
 * is every entry read, up to the first altered segment.
 */
export async function verifyArchivedLedger(
  segments: { record: LedgerSegmentRecord; bytes: Uint8Array<ArrayBuffer> }[],
  hot: LedgerRow[],
): Promise<ChainCheck & { rows: LedgerRow[] }> {
  const rows: LedgerRow[] = [];
  for (const { record, bytes } of segments) {
    const broken = (message: string): ChainCheck & { rows: LedgerRow[] } => ({
      rows,
      ok: false,
      entries: rows.length,
      head: rows.length
        ? { seq: rows.at(-1)!.seq, hash: rows.at(-1)!.hash }
        : { seq: 0, hash: record.prevHash },
      problem: { seq: record.firstSeq, message },
    });
    let entries: ArchivedEntry[];
    try {
      entries = await decodeSegment<ArchivedEntry>(bytes, record.sha256);
    } catch (e) {
      if (e instanceof SegmentError) return broken(e.message);
      throw e;
    }
    const first = entries[0];
    const last = entries.at(-1);
    if (
      !first ||
      !last ||
      first.seq !== record.firstSeq ||
      last.seq !== record.lastSeq ||
      first.prevHash !== record.prevHash ||
      last.hash !== record.headHash
    )
      return broken(
        `segment ${record.sha256} does not hold entries ${record.firstSeq}..${record.lastSeq} as its index row says`,
      );
    for (const { seq, prevHash, hash, entry } of entries) rows.push({ seq, prevHash, hash, entry });
  }
  const all = [...rows, ...hot];
  return { ...(await verifyChain(all)), rows: all };
}
