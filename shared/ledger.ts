// The trust ledger's chain: every verdict, credit and revocation is an entry whose hash covers the
// previous entry's hash and the entry's canonical JSON, so rewriting or dropping any entry changes
// every hash after it. The edge appends (edge/src/ledger.ts); anyone holding an export can check it
// (scripts/ledger-verify.ts, GET /api/ledger).
import { canonicalJson } from './canonical.ts';
import { sha256 } from './crypto.ts';
import type { Promotion } from './asha.ts';
import type { PbtDecision } from './pbt.ts';
import type { VerdictBasis } from './protocol.ts';

/**
 * The ledger table's newest entry (edge/src/ledger.ts, bench:edge --preload). Through max(seq), which
 * SQLite answers from the end of the rowid b-tree (two SEARCH steps); `ORDER BY seq DESC LIMIT 1`
 * reads the same one row, but its plan says SCAN, and edge/test/query-plans.test.ts tolerates no SCAN
 * of a growing table.
 */
export const LEDGER_HEAD_SQL =
  'SELECT seq, hash FROM ledger WHERE seq = (SELECT max(seq) FROM ledger)';

/** One entry's row in the ledger table: LEDGER_INSERT_SQL's parameters, from ledgerRow. */
export const LEDGER_INSERT_SQL = `INSERT INTO ledger (seq, key, kind, experiment_id, result_id, volunteer_id, entry, prev_hash, hash, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** LEDGER_INSERT_SQL's parameters for `entry` (its canonical JSON `json`) chained after `prevHash`. */
export function ledgerRow(
  key: string,
  entry: LedgerEntry,
  json: string,
  prevHash: string,
  hash: string,
): (string | number | null)[] {
  return [
    entry.seq,
    key,
    entry.kind,
    entry.experimentId,
    entry.resultId,
    entry.volunteerId,
    json,
    prevHash,
    hash,
    entry.at,
  ];
}

/** The `prevHash` of entry 1. */
export const GENESIS_HASH = '0'.repeat(64);

export type LedgerKind =
  'verdict' | 'credit' | 'revoke' | 'dispute' | 'checkpoint' | 'promotion' | 'generation';

/**
 * One entry. verdict: a result judged valid or invalid (basis: how); credit / revoke: FLOPs given
 * for a valid result or taken back when it is overturned; dispute: an experiment that reached the
 * replica limit without a majority; checkpoint: the canonical final checkpoint chosen for a lineage's
 * experiment (resultId: the replica it came from); promotion: a strategy's decision to continue a
 * configuration (experimentId: the new experiment), with the inputs it was taken on; generation:
 * PBT's decision for a member's next generation (continue or exploit and explore, shared/pbt.ts).
 */
export interface LedgerEntry {
  seq: number; // 1, 2, 3 … without gaps
  at: number; // ms since epoch
  kind: LedgerKind;
  experimentId: string;
  resultId: string | null;
  volunteerId: string | null;
  verdict?: 'valid' | 'invalid';
  basis?: VerdictBasis;
  valBpb?: number; // the experiment's canonical (median) val_bpb, on verdicts
  flops?: number; // on credit and revoke
  checkpointSha256?: string; // on checkpoint
  promotion?: Promotion; // on promotion (shared/asha.ts)
  generation?: PbtDecision; // on generation (shared/pbt.ts)
}

export interface LedgerRow {
  seq: number;
  prevHash: string;
  hash: string;
  entry: string; // the entry's canonical JSON, exactly as hashed
}

/** SHA-256 over the previous hash (64 hex characters) followed by the entry's canonical JSON. */
export function entryHash(prevHash: string, entryJson: string): Promise<string> {
  return sha256(prevHash + entryJson);
}

export interface ChainCheck {
  ok: boolean;
  entries: number;
  head: { seq: number; hash: string };
  problem?: { seq: number; message: string };
}

/**
 * Checks a chain from its first entry (or from `from`, the head of an already checked prefix):
 * consecutive seq, each prevHash equal to the previous hash, each entry canonical and naming its
 * own seq, each hash recomputed. Stops at the first problem.
 */
export async function verifyChain(
  rows: LedgerRow[],
  from = { seq: 0, hash: GENESIS_HASH },
): Promise<ChainCheck> {
  let head = from;
  const bad = (seq: number, message: string): ChainCheck => ({
    ok: false,
    entries: head.seq - from.seq,
    head,
    problem: { seq, message },
  });
  for (const row of rows) {
    if (row.seq !== head.seq + 1)
      return bad(
        row.seq,
        `entry ${row.seq} follows entry ${head.seq}: an entry is missing or out of order`,
      );
    if (row.prevHash !== head.hash)
      return bad(
        row.seq,
        `entry ${row.seq} does not name the hash of entry ${head.seq} as its predecessor`,
      );
    let entry: LedgerEntry;
    try {
      entry = JSON.parse(row.entry) as LedgerEntry;
    } catch {
      return bad(row.seq, `entry ${row.seq} is not JSON`);
    }
    if (canonicalJson(entry) !== row.entry)
      return bad(row.seq, `entry ${row.seq} is not in canonical JSON`);
    if (entry.seq !== row.seq) return bad(row.seq, `entry ${row.seq} names seq ${entry.seq}`);
    if ((await entryHash(row.prevHash, row.entry)) !== row.hash)
      return bad(row.seq, `entry ${row.seq} does not hash to its recorded hash: it was altered`);
    head = { seq: row.seq, hash: row.hash };
  }
  return { ok: true, entries: head.seq - from.seq, head };
}

/** Net credit per volunteer from a chain's entries (credits minus revocations), in FLOPs. */
export function creditTotals(entries: LedgerEntry[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of entries) {
    if (!e.volunteerId || !e.flops || (e.kind !== 'credit' && e.kind !== 'revoke')) continue;
    out.set(
      e.volunteerId,
      (out.get(e.volunteerId) ?? 0) + (e.kind === 'credit' ? e.flops : -e.flops),
    );
  }
  return out;
}

/** One page of `GET /api/ledger?after=&limit=`. */
export interface LedgerPage {
  entries: LedgerRow[]; // parse `entry` for the LedgerEntry; hash its exact text
  head: { seq: number; hash: string };
  next: number | null; // pass as `after` for the next page; null at the head
}
