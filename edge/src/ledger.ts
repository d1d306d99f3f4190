// The trust ledger on D1. A decision's entries are written in the same batch as the state they
// record (a verdict with the result's new verdict, a credit with the volunteer's new total), into
// ledger_pending: if another writer changed the experiment meanwhile, the batch fails on a
// constraint, rolls back whole, and the decision is planned again from fresh state. The ledger
// sequencer (ledger-sequencer.ts) then chains waiting entries onto the head, one writer for the
// chain, so concurrent decisions no longer race for it (migration 0017).
import { canonicalJson } from '../../shared/canonical.ts';
import {
  GENESIS_HASH,
  LEDGER_HEAD_SQL,
  type LedgerEntry,
  type LedgerPage,
} from '../../shared/ledger.ts';
import { archivedEntries, SEGMENT_AFTER_SQL, type SegmentRef } from './archive/ledger-pages.ts';

/** An entry before it has a place: `key` makes it unique (a verdict, credit or revocation is recorded once). */
export type NewEntry = Omit<LedgerEntry, 'seq' | 'at'> & { key: string };

export interface Planned {
  statements: D1PreparedStatement[];
  entries: NewEntry[];
}

// Races are now only between decisions on one experiment (its trust_version), a few at most.
const MAX_ATTEMPTS = 24;

/** A statement that reads the head, for a plan's batch of reads; headOf reads its result. */
export const headStatement = (db: D1Database) => db.prepare(LEDGER_HEAD_SQL);
export const headOf = (r: D1Result | undefined): { seq: number; hash: string } =>
  ((r?.results ?? [])[0] as { seq: number; hash: string } | undefined) ?? {
    seq: 0,
    hash: GENESIS_HASH,
  };

export async function ledgerHead(db: D1Database): Promise<{ seq: number; hash: string }> {
  return headOf(await headStatement(db).all());
}

/** The entries' rows in ledger_pending, waiting for the sequencer to give them seq, at and hash. */
function pendingStatements(db: D1Database, entries: NewEntry[], at: number): D1PreparedStatement[] {
  return entries.map(({ key, ...fields }) =>
    db
      .prepare('INSERT INTO ledger_pending (key, entry, at) VALUES (?, ?, ?)')
      .bind(key, canonicalJson(fields), at),
  );
}

/**
 * A decision's batch lost a race: the experiment's trust_version moved, or its entry's key is
 * already waiting or chained (the ledger_pending trigger reports the latter as ledger.key). Only the
 * sequencer writes the ledger itself, so a decision never meets ledger.seq or ledger.hash.
 */
export function isWriteConflict(e: unknown): boolean {
  const message =
    e instanceof Error
      ? `${e.message} ${String((e as { cause?: unknown }).cause ?? '')}`
      : String(e);
  return /constraint failed: (experiments\.trust_version|ledger\.key|ledger_pending\.key)/i.test(
    message,
  );
}

/** What commitPlanned did: ledger entries left for the sequencer, and the tail's results when it wrote. */
export interface Committed {
  entries: number;
  tail: D1Result[] | null; // null: nothing to write, no batch ran
}

/**
 * Plans from fresh state and commits the plan with its ledger entries (waiting for the sequencer:
 * call sequenceLedger after) in one batch, retrying when a concurrent writer got there first.
 * `plan` returns null when there is nothing to do. `tail`: reads that ride at the end of the batch
 * that commits, seeing what it wrote (a result's outcome: one D1 call fewer).
 */
export async function commitPlanned(
  db: D1Database,
  plan: (attempt: number) => Promise<Planned | null>,
  now: number,
  tail: D1PreparedStatement[] = [],
): Promise<Committed> {
  for (let attempt = 1; ; attempt++) {
    const planned = await plan(attempt);
    if (!planned || (!planned.statements.length && !planned.entries.length))
      return { entries: 0, tail: null };
    const writes = [...planned.statements, ...pendingStatements(db, planned.entries, now)];
    try {
      const results = await db.batch([...writes, ...tail]);
      return { entries: planned.entries.length, tail: results.slice(writes.length) };
    } catch (e) {
      if (attempt >= MAX_ATTEMPTS || !isWriteConflict(e)) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * 2 ** Math.min(attempt, 7))); // jittered exponential backoff
    }
  }
}

/**
 * One page of the ledger after `after`, oldest first, and the current head. A page that starts in
 * the sealed prefix comes from its archive segment in R2 (archive/ledger-pages.ts); the segment
 * lookup, the D1 page and the head are one batch, so an archiver sealing meanwhile leaves no gap.
 */
export async function readLedger(
  db: D1Database,
  bucket: R2Bucket,
  after: number,
  limit: number,
): Promise<LedgerPage> {
  const [segment, page, head] = await db.batch([
    db.prepare(SEGMENT_AFTER_SQL).bind(after),
    db
      .prepare(
        'SELECT seq, prev_hash AS prevHash, hash, entry FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?',
      )
      .bind(after, limit),
    headStatement(db),
  ]);
  const sealed = segment!.results[0] as SegmentRef | undefined;
  const entries = sealed
    ? await archivedEntries(bucket, sealed, after, limit)
    : ((page!.results ?? []) as LedgerPage['entries']);
  const top = headOf(head);
  const last = entries.at(-1)?.seq ?? after;
  return { entries, head: top, next: last < top.seq ? last : null };
}
