// The ledger's one writer: a Durable Object that chains the entries waiting in ledger_pending onto
// the head, in the order they were written, and deletes them from ledger_pending in the same batch.
// Decisions commit their entries there with the state they record (ledger.ts commitPlanned), so they
// no longer race each other for the head; the sequencer keeps the head in memory and turns a burst
// of waiting entries into one read and one write. A call resolves once every entry committed before
// it is in the chain. Entries whose call never came (a crashed request) wait for the next call, and
// the cron calls it too: nothing committed is lost, it is only chained later.
import { DurableObject } from 'cloudflare:workers';
import { canonicalJson } from '../../shared/canonical.ts';
import { entryHash, LEDGER_INSERT_SQL, ledgerRow, type LedgerEntry } from '../../shared/ledger.ts';
import { headOf, headStatement } from './ledger.ts';
import { currentShard, shardBinding } from './shards.ts';

/** Entries chained per batch: each is one INSERT, and D1 caps a Worker invocation's queries at 1,000. */
const PER_BATCH = 200;

interface PendingRow {
  id: number;
  key: string;
  entry: string; // canonical JSON without seq and at
  at: number;
}

export class LedgerSequencer extends DurableObject<Env> {
  #head: { seq: number; hash: string } | null = null; // null: read it with the next batch
  #waiting: Promise<number> | null = null; // the drain that has not started yet: later calls share it
  #last: Promise<unknown> = Promise.resolve();

  #shard = 0;

  /**
   * Chains every waiting entry of shard `shard`'s ledger (one sequencer per shard, named after it:
   * sequenceLedger); resolves with how many this drain chained.
   */
  async sequence(shard = 0): Promise<number> {
    this.#shard = shard;
    if (!this.#waiting) {
      const drain = this.#last.then(() => {
        this.#waiting = null; // from here a call needs the next drain: its entry may be too new for this one
        return this.#drain();
      });
      this.#waiting = drain;
      this.#last = drain.catch(() => undefined);
    }
    return await this.#waiting;
  }

  async #drain(): Promise<number> {
    const db = shardBinding(this.env, this.#shard);
    if (!db) throw new Error(`ledger sequencer: shard ${this.#shard} is not bound`);
    let chained = 0;
    for (;;) {
      const reads = [
        db
          .prepare('SELECT id, key, entry, at FROM ledger_pending ORDER BY id LIMIT ?')
          .bind(PER_BATCH),
      ];
      if (!this.#head) reads.push(headStatement(db));
      const [pending, head] = await db.batch(reads);
      if (head) this.#head = headOf(head);
      const rows = (pending!.results ?? []) as PendingRow[];
      if (!rows.length) return chained;
      let prev = this.#head!;
      const writes: D1PreparedStatement[] = [];
      for (const row of rows) {
        const entry = {
          ...(JSON.parse(row.entry) as Omit<LedgerEntry, 'seq' | 'at'>),
          seq: prev.seq + 1,
          at: row.at,
        };
        const json = canonicalJson(entry);
        const hash = await entryHash(prev.hash, json);
        writes.push(
          db.prepare(LEDGER_INSERT_SQL).bind(...ledgerRow(row.key, entry, json, prev.hash, hash)),
        );
        prev = { seq: entry.seq, hash };
      }
      writes.push(db.prepare('DELETE FROM ledger_pending WHERE id <= ?').bind(rows.at(-1)!.id));
      try {
        await db.batch(writes);
      } catch (e) {
        this.#head = null; // another writer (an operator's repair) moved it: read it again next time
        throw e;
      }
      this.#head = prev;
      chained += rows.length;
      if (rows.length < PER_BATCH) return chained;
    }
  }
}

/**
 * Asks the sequencer to chain what waits, and waits for it. A failure is logged, not thrown: the
 * decision is committed and its entries wait in ledger_pending for the next call or the cron.
 */
export async function sequenceLedger(env: Env): Promise<void> {
  const shard = currentShard(env); // each shard's ledger is its own chain, with its own sequencer
  const name = shard === 0 ? 'ledger' : `ledger-${shard}`;
  try {
    await env.LEDGER_SEQUENCER.get(env.LEDGER_SEQUENCER.idFromName(name)).sequence(shard);
  } catch (err) {
    console.error('ledger sequencer call failed; the entries wait for the next one', err);
  }
}
