// The trust ledger on D1. Entries are appended in the same batch as the state they record (a
// verdict with the result's new verdict, a credit with the volunteer's new total), chained onto the
// current head: if another writer moved the head or changed the experiment meanwhile, the batch
// fails on a constraint, rolls back whole, and the decision is planned again from fresh state.
import { canonicalJson } from '../../shared/canonical.ts';
import {
  entryHash,
  GENESIS_HASH,
  LEDGER_HEAD_SQL,
  LEDGER_INSERT_SQL,
  ledgerRow,
  type LedgerEntry,
  type LedgerPage,
} from '../../shared/ledger.ts';
import { archivedEntries, SEGMENT_AFTER_SQL, type SegmentRef } from './archive/ledger-pages.ts';

/** An entry before it has a place: `key` makes it unique (a verdict, credit or revocation is recorded once). */
export type NewEntry = Omit<LedgerEntry, 'seq' | 'at'> & { key: string };

export interface Planned {
  statements: D1PreparedStatement[];
  entries: NewEntry[];
  /** The ledger's head as the plan's own reads saw it (headStatement in their batch): one D1 call fewer. */
  head?: { seq: number; hash: string };
}

const MAX_ATTEMPTS = 24; // D1 is single-writer: under a burst of verdicts, races resolve within a few rounds

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

async function appendStatements(
  db: D1Database,
  head: { seq: number; hash: string },
  entries: NewEntry[],
  at: number,
): Promise<D1PreparedStatement[]> {
  const out: D1PreparedStatement[] = [];
  let prev = head;
  for (const { key, ...fields } of entries) {
    const entry: LedgerEntry = { ...fields, seq: prev.seq + 1, at };
    const json = canonicalJson(entry);
    const hash = await entryHash(prev.hash, json);
    out.push(db.prepare(LEDGER_INSERT_SQL).bind(...ledgerRow(key, entry, json, prev.hash, hash)));
    prev = { seq: entry.seq, hash };
  }
  return out;
}

/** A batch lost a race: the experiment's trust_version moved, or another entry took this seq or key. */
export function isWriteConflict(e: unknown): boolean {
  const message =
    e instanceof Error
      ? `${e.message} ${String((e as { cause?: unknown }).cause ?? '')}`
      : String(e);
  return /constraint failed: (experiments\.trust_version|ledger\.(seq|key|hash))/i.test(message);
}

/**
 * Plans from fresh state and commits the plan with its ledger entries in one batch, retrying
 * when a concurrent writer got there first. `plan` returns null when there is nothing to do.
 */
export async function commitPlanned(
  db: D1Database,
  plan: (attempt: number) => Promise<Planned | null>,
  now: number,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const planned = await plan(attempt);
    if (!planned || (!planned.statements.length && !planned.entries.length)) return;
    const head = planned.head ?? (await ledgerHead(db));
    const ledger = await appendStatements(db, head, planned.entries, now);
    try {
      await db.batch([...planned.statements, ...ledger]);
      return;
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
