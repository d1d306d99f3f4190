// The campaign queue's copy of D1 (campaign-queue.ts): what a claim reads — the campaign's open
// experiments and every lease on them — loaded whole once, then kept in step through the change feed
// (migration 0010), with the feed's position in the object's own meta table.
import { EXPERIMENT_COLUMNS, LEASE_COLUMNS } from './queue-sql.ts';

export interface ExperimentRow {
  id: string;
  status: string;
  idx: number;
  tokens: number;
  replicas_needed: number;
  reissued_at: number | null;
  audit: number;
  quorum: number;
}

export type LeaseRow = Record<string, string | number | null> & { experiment_id: string };

export class QueueCopy {
  #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  /**
   * The whole campaign from D1, in one transaction with this queue's registration as a consumer:
   * every change after the snapshot is in the feed, past the position stored here.
   */
  async load(db: D1Database, campaignId: string): Promise<void> {
    const [, head, exps, leases] = await db.batch<Record<string, unknown>>([
      db.prepare('INSERT OR IGNORE INTO queue_consumers (campaign_id) VALUES (?)').bind(campaignId),
      db.prepare(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'queue_changes'), 0) AS seq",
      ),
      db
        .prepare(
          `SELECT ${EXPERIMENT_COLUMNS}, e.spec_json, e.spec_hash FROM experiments e WHERE e.campaign_id = ? AND e.status = 'open'`,
        )
        .bind(campaignId),
      db
        .prepare(
          `SELECT ${LEASE_COLUMNS} FROM leases l JOIN experiments e ON e.id = l.experiment_id JOIN volunteers v ON v.id = l.volunteer_id
         WHERE e.campaign_id = ? AND e.status = 'open'`,
        )
        .bind(campaignId),
    ]);
    this.#storage.transactionSync(() => {
      this.forget();
      for (const e of exps!.results as unknown as (ExperimentRow & {
        spec_json: string;
        spec_hash: string;
      })[]) {
        this.#putExperiment(e, e);
      }
      for (const l of leases!.results as LeaseRow[]) this.#upsertLease(l);
      this.#setMeta('campaign', campaignId);
      this.#setMeta('feed', (head!.results[0] as { seq: number }).seq);
    });
  }

  /**
   * Applies changed experiments and their leases. Leases are merged, never dropped: D1 never
   * deletes one, and a lease granted here may not have reached D1 when the feed was read.
   */
  async apply(
    db: D1Database,
    exps: ExperimentRow[],
    leases: LeaseRow[],
    head: number,
  ): Promise<void> {
    const known = new Set(
      this.#storage.sql
        .exec<{ id: string }>(
          `SELECT id FROM experiments WHERE id IN (SELECT value FROM json_each(?))`,
          JSON.stringify(exps.map((e) => e.id)),
        )
        .toArray()
        .map((r) => r.id),
    );
    // New or reopened experiments need their specs, which the feed does not carry (they never change).
    const missing = exps.filter((e) => e.status === 'open' && !known.has(e.id)).map((e) => e.id);
    const specs = new Map<string, { spec_json: string; spec_hash: string }>();
    if (missing.length) {
      const { results } = await db
        .prepare(
          'SELECT id, spec_json, spec_hash FROM experiments WHERE id IN (SELECT value FROM json_each(?))',
        )
        .bind(JSON.stringify(missing))
        .all<{ id: string; spec_json: string; spec_hash: string }>();
      for (const r of results) specs.set(r.id, r);
    }
    this.#storage.transactionSync(() => {
      const open = new Set<string>();
      for (const e of exps) {
        if (e.status !== 'open') {
          this.#storage.sql.exec('DELETE FROM experiments WHERE id = ?', e.id);
          this.#storage.sql.exec('DELETE FROM leases WHERE experiment_id = ?', e.id);
          continue;
        }
        open.add(e.id);
        const spec = specs.get(e.id);
        if (spec) {
          this.#putExperiment(e, spec);
        } else {
          this.#storage.sql.exec(
            'UPDATE experiments SET replicas_needed = ?, reissued_at = ?, audit = ?, quorum = ? WHERE id = ?',
            e.replicas_needed,
            e.reissued_at,
            e.audit,
            e.quorum,
            e.id,
          );
        }
      }
      for (const l of leases) if (open.has(l.experiment_id)) this.#upsertLease(l);
      this.#setMeta('feed', head);
    });
  }

  /** An open experiment with its spec, new or replacing the copy held. */
  #putExperiment(e: ExperimentRow, spec: { spec_json: string; spec_hash: string }): void {
    this.#storage.sql.exec(
      'INSERT OR REPLACE INTO experiments (id, idx, tokens, replicas_needed, reissued_at, audit, quorum, spec_json, spec_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      e.id,
      e.idx,
      e.tokens,
      e.replicas_needed,
      e.reissued_at,
      e.audit,
      e.quorum,
      spec.spec_json,
      spec.spec_hash,
    );
  }

  #upsertLease(l: LeaseRow): void {
    this.#storage.sql.exec(
      `INSERT INTO leases (id, experiment_id, volunteer_id, backend_class, browser, precision, ip_hash, registration_ip, reliable, single, created_at, deadline, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET volunteer_id = excluded.volunteer_id, backend_class = excluded.backend_class, browser = excluded.browser,
         precision = excluded.precision, ip_hash = excluded.ip_hash, registration_ip = excluded.registration_ip, reliable = excluded.reliable,
         single = excluded.single, created_at = excluded.created_at, deadline = excluded.deadline, status = excluded.status`,
      l.id,
      l.experiment_id,
      l.volunteer_id,
      l.backend_class,
      l.browser,
      l.precision,
      l.ip_hash,
      l.registration_ip,
      l.reliable,
      l.single,
      l.created_at,
      l.deadline,
      l.status,
    );
  }

  /** Drops the copy; the next cycle loads the campaign again. */
  forget(): void {
    this.#storage.sql.exec('DELETE FROM experiments');
    this.#storage.sql.exec('DELETE FROM leases');
    this.#storage.sql.exec("DELETE FROM meta WHERE key = 'feed'");
  }

  meta<T extends SqlStorageValue>(key: string): T | null {
    return (this.#storage.sql
      .exec<{ value: T }>('SELECT value FROM meta WHERE key = ?', key)
      .toArray()[0]?.value ?? null) as T | null;
  }

  #setMeta(key: string, value: SqlStorageValue): void {
    this.#storage.sql.exec('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', key, value);
  }
}
