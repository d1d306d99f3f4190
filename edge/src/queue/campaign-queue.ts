// The campaign queue: one Durable Object per campaign that claims work in its own SQLite storage,
// so a claim is one RPC into the object instead of a scan of D1 by D1's single writer.
//
// The object keeps a copy of what the claim reads (queue-copy.ts) — the campaign's open experiments
// and every lease on them, with the fields the trust rules look at — and D1 stays the system of
// record: a lease exists once its D1 row is written (results and heartbeats read it there). The copy
// follows D1 through the change feed of migration 0010 (triggers note every experiment whose
// claim-relevant columns or leases changed, whoever wrote them); each claim first reads the feed, so
// the copy is as fresh as D1 was when the claim arrived, and a restarted object continues from its
// stored place.
//
// Claims that arrive together share one cycle: one D1 batch reads the feed and every claimant's
// profile, the claims run one after another in SQLite (synchronously: nothing interleaves, so no
// replica slot is handed out twice), and one D1 batch writes all the new leases — each insert
// re-checks the volunteer's open-lease quota across campaigns, and a refused one is taken back.
import { DurableObject } from 'cloudflare:workers';
import { randomToken, sha256 } from '../../../shared/crypto.ts';
import { envOfId, shardOfId, shardPrefix } from '../shards.ts';
import type { Lease } from '../../../shared/protocol.ts';
import { ExperimentSpec } from '../../../shared/spec.ts';
import { guardExpiry, guardInsertOrIgnore, REPLAYED } from '../replay-guard.ts';
import {
  claimTerms,
  leaseDeadline,
  profileStatement,
  type ClaimRequest,
  type ClaimTerms,
  type Profile,
} from './claim-terms.ts';
import { QueueCopy, type ExperimentRow, type LeaseRow } from './queue-copy.ts';
import {
  ADDRESS_UNDER_CAP,
  CANDIDATE_SQL,
  CHANGED,
  EXPERIMENT_COLUMNS,
  LEASE_COLUMNS,
  SCHEMA,
} from './queue-sql.ts';

/** How a claim ranks a candidate (CLAIM_RANK, CLAIM_MATCH, oldest live lease): lower goes first. */
export interface SortKey {
  rank: number;
  match: number;
  firstLive: number | null;
}

/** A volunteer's best candidate in a queue and how it ranks. */
export interface Ranked extends SortKey {
  experimentId: string;
}

export interface QueueClaim {
  campaignId: string;
  req: ClaimRequest;
  minLeaseMs: number;
  /** Claim only a candidate ranking at or before this (a claim without a campaign picks the best queue). */
  bound?: SortKey;
  /**
   * The lease request's replay guard (its signature's hash), recorded in the claim cycle's read
   * batch instead of a D1 call of its own: a signature recorded before is answered REPLAYED.
   */
  guard?: string;
}

interface Candidate extends Record<string, SqlStorageValue> {
  id: string;
  tokens: number;
  live: number;
  audit: number;
  quorum: number;
  rank: number;
  match: number;
  firstLive: number | null;
}

/**
 * The claimant's lease columns, in the order both this object's leases table (backend_class, browser,
 * precision, ip_hash, registration_ip, reliable) and CANDIDATE_SQL's ?9 to ?14 take them.
 */
const leaseTerms = (t: ClaimTerms) =>
  [t.klass, t.browser, t.precision, t.leaseIp, t.registrationIp, t.tier] as const;

export type HeldExperiment = {
  id: string;
  replicasNeeded: number;
  reissuedAt: number | null;
  audit: number;
  quorum: number;
};
export type HeldLease = {
  id: string;
  experimentId: string;
  status: string;
  deadline: number;
  single: number;
};
export interface Held {
  experiments: HeldExperiment[];
  leases: HeldLease[];
  feed: number | null;
}

/** A claim or a ranking waiting for the next cycle. */
interface Job {
  claim: QueueClaim;
  peek: boolean;
  resolve(value: Lease | Ranked | typeof REPLAYED | null): void;
  reject(reason: unknown): void;
}

/** A claim granted in the object, until D1 has its lease row. */
interface Granted {
  job: Job;
  lease: Lease;
  insert: D1PreparedStatement;
}

export class CampaignQueue extends DurableObject<Env> {
  #sql: SqlStorage;
  #copy: QueueCopy;
  #jobs: Job[] = [];
  #cycling = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(SCHEMA);
    this.#copy = new QueueCopy(ctx.storage);
  }

  /** Claims a replica slot of this campaign for the volunteer, or null when it may take none. */
  claim(claim: QueueClaim): Promise<Lease | typeof REPLAYED | null> {
    return this.#enqueue(claim, false) as Promise<Lease | typeof REPLAYED | null>;
  }

  /** The volunteer's best candidate here and its rank, without claiming it (null: nothing for it). */
  best(claim: QueueClaim): Promise<Ranked | null> {
    return this.#enqueue(claim, true) as Promise<Ranked | null>;
  }

  /** What this queue holds (its copy of D1 as of the last claim), for tests and inspection. */
  held(): Held {
    return {
      experiments: this.#sql
        .exec<HeldExperiment>(
          'SELECT id, replicas_needed AS replicasNeeded, reissued_at AS reissuedAt, audit, quorum FROM experiments ORDER BY id',
        )
        .toArray(),
      leases: this.#sql
        .exec<HeldLease>(
          'SELECT id, experiment_id AS experimentId, status, deadline, single FROM leases ORDER BY id',
        )
        .toArray(),
      feed: this.#copy.meta<number>('feed'),
    };
  }

  #enqueue(claim: QueueClaim, peek: boolean): Promise<Lease | Ranked | typeof REPLAYED | null> {
    return new Promise((resolve, reject) => {
      this.#jobs.push({ claim, peek, resolve, reject });
      if (!this.#cycling) void this.#cycle();
    });
  }

  /** Runs cycles until no job waits; jobs that arrive during a cycle go in the next one. */
  async #cycle(): Promise<void> {
    this.#cycling = true;
    try {
      while (this.#jobs.length) {
        const jobs = this.#jobs.splice(0);
        try {
          await this.#run(jobs);
        } catch (err) {
          for (const job of jobs) job.reject(err); // no-op for jobs already settled
        }
      }
    } finally {
      this.#cycling = false;
    }
  }

  async #run(jobs: Job[]): Promise<void> {
    if (!jobs.length) return;
    const campaignId = jobs[0]!.claim.campaignId;
    const db = envOfId(this.env, campaignId).DB; // the campaign's shard (shards.ts)
    if (jobs.some((j) => j.claim.campaignId !== campaignId))
      throw new Error('a campaign queue serves one campaign');
    const stored = this.#copy.meta('campaign');
    if (stored !== null && stored !== campaignId)
      throw new Error(`this queue serves ${stored}, not ${campaignId}`);
    if (this.#copy.meta('feed') === null) await this.#copy.load(db, campaignId);

    // One read: the feed since the stored position (and whether D1 still knows this queue: a wiped
    // D1 starts its feed again), then every claimant's profile, then the claimants' replay guards.
    const feed = this.#copy.meta<number>('feed')!;
    const now = Date.now();
    const guards = jobs.flatMap((j) =>
      j.claim.guard ? [guardInsertOrIgnore(db, j.claim.guard, now)] : [],
    );
    if (guards.length) guards.push(guardExpiry(db, now));
    const reads = await db.batch<Record<string, unknown>>([
      db
        .prepare('DELETE FROM queue_changes WHERE campaign_id = ?1 AND seq <= ?2')
        .bind(campaignId, feed),
      db
        .prepare(
          `SELECT EXISTS (SELECT 1 FROM queue_consumers WHERE campaign_id = ?1) AS registered,
           (SELECT max(seq) FROM queue_changes WHERE campaign_id = ?1) AS head,
           coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'queue_changes'), 0) AS counter`,
        )
        .bind(campaignId),
      db
        .prepare(`SELECT ${EXPERIMENT_COLUMNS} FROM experiments e WHERE e.id IN ${CHANGED}`)
        .bind(campaignId, feed),
      db
        .prepare(
          `SELECT ${LEASE_COLUMNS} FROM leases l JOIN volunteers v ON v.id = l.volunteer_id WHERE l.experiment_id IN ${CHANGED}`,
        )
        .bind(campaignId, feed),
      ...jobs.map((j) => profileStatement(db, j.claim.req)),
      ...guards,
    ]);
    // Each guarded claimant's signature is recorded now: a replay is answered and leaves the cycle,
    // and the others need no guard if the cycle runs again (below).
    const profiles = new Map(jobs.map((j, i) => [j, reads[4 + i]!]));
    const guarded = jobs.filter((j) => j.claim.guard);
    const replays = new Set(
      guarded.filter((_, i) => reads[4 + jobs.length + i]!.meta.changes !== 1),
    );
    for (const j of guarded) j.claim.guard = undefined;
    for (const j of replays) j.resolve(REPLAYED);
    jobs = jobs.filter((j) => !replays.has(j));
    const state = reads[1]!.results[0] as {
      registered: number;
      head: number | null;
      counter: number;
    };
    if (!state.registered || state.counter < feed) {
      this.#copy.forget();
      return this.#run(jobs);
    }
    await this.#copy.apply(
      db,
      reads[2]!.results as unknown as ExperimentRow[],
      reads[3]!.results as LeaseRow[],
      state.head ?? feed,
    );

    const terms = await Promise.all(
      jobs.map((j) =>
        claimTerms(j.claim.req, (profiles.get(j)!.results[0] as Profile | undefined) ?? null),
      ),
    );
    const granted: Granted[] = [];
    for (const [i, job] of jobs.entries()) {
      const t = terms[i];
      if (!t) {
        job.resolve(null);
        continue;
      }
      const best = this.#candidate(job.claim.req, t);
      const key: Ranked | null = best && {
        rank: best.rank,
        match: best.match,
        firstLive: best.firstLive,
        experimentId: best.id,
      };
      if (job.peek) job.resolve(key);
      else if (best && key && (!job.claim.bound || compareKeys(key, job.claim.bound) <= 0))
        granted.push(await this.#grant(job, t, best, campaignId));
      else job.resolve(null);
    }
    if (!granted.length) return;

    // The lease rows, each written only while the volunteer is under its quota across campaigns.
    let written: D1Result[];
    try {
      written = await db.batch(granted.map((g) => g.insert));
    } catch (err) {
      for (const g of granted) this.#sql.exec('DELETE FROM leases WHERE id = ?', g.lease.leaseId);
      throw err;
    }
    for (const [i, g] of granted.entries()) {
      if (written[i]!.meta.changes > 0) {
        // counts the feed trigger's row too: > 0 means the lease went in
        g.job.resolve(g.lease);
      } else {
        this.#sql.exec('DELETE FROM leases WHERE id = ?', g.lease.leaseId);
        g.job.resolve(null);
      }
    }
  }

  /** The best candidate for this claimant in the window, or null. */
  #candidate(req: ClaimRequest, t: ClaimTerms): Candidate | null {
    const rows = this.#sql
      .exec<Candidate>(
        CANDIDATE_SQL,
        null,
        req.volunteerId,
        null,
        req.now,
        null,
        null,
        null,
        null,
        ...leaseTerms(t),
        null,
        t.otherKindActive,
        t.activeTier,
      )
      .toArray();
    return rows[0] ?? null;
  }

  /** Takes the slot here at once (so the next claim in this cycle sees it) and prepares its D1 row. */
  async #grant(job: Job, t: ClaimTerms, c: Candidate, campaignId: string): Promise<Granted> {
    const { req, minLeaseMs } = job.claim;
    const leaseToken = randomToken(32);
    const leaseId = shardPrefix('l', shardOfId(campaignId)) + randomToken(12);
    const deadline = leaseDeadline(req.now, minLeaseMs);
    const single = t.single && c.live === 0 && c.audit === 0 && c.quorum <= 2 ? 1 : 0;
    this.#sql.exec(
      `INSERT INTO leases (id, experiment_id, volunteer_id, backend_class, browser, precision, ip_hash, registration_ip, reliable, single, created_at, deadline, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')`,
      leaseId,
      c.id,
      req.volunteerId,
      ...leaseTerms(t),
      single,
      req.now,
      deadline,
    );
    const exp = this.#sql
      .exec<{ specJson: string; specHash: string }>(
        'SELECT spec_json AS specJson, spec_hash AS specHash FROM experiments WHERE id = ?',
        c.id,
      )
      .one();
    const db = envOfId(this.env, campaignId).DB;
    // Awaited only after the slot is taken: the token's hash is not something the claim reads.
    const tokenHash = await sha256(leaseToken);
    return {
      job,
      lease: {
        leaseId,
        leaseToken,
        deadline,
        campaignId,
        experimentId: c.id,
        specHash: exp.specHash,
        spec: ExperimentSpec.parse(JSON.parse(exp.specJson)),
      },
      insert: db
        .prepare(
          `INSERT OR IGNORE INTO leases (id, experiment_id, volunteer_id, token_hash, backend, created_at, deadline, backend_class, precision, browser, ip_hash, single)
           SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
           WHERE (SELECT count(*) FROM leases l WHERE l.volunteer_id = ?3 AND l.status = 'open' AND l.deadline > ?6) < ?13
             AND ${ADDRESS_UNDER_CAP.replaceAll('?12', '?11').replaceAll('?4', '?6')}`,
        )
        .bind(
          leaseId,
          c.id,
          req.volunteerId,
          tokenHash,
          req.capabilities.backend,
          req.now,
          deadline,
          t.klass,
          t.precision,
          t.browser,
          t.leaseIp,
          single,
          t.quota,
        ),
    };
  }
}

/** Lexicographic order of sort keys; a missing first live lease sorts first, as NULL does in SQLite. */
export function compareKeys(a: SortKey, b: SortKey): number {
  return (
    a.rank - b.rank ||
    a.match - b.match ||
    (a.firstLive ?? -Infinity) - (b.firstLive ?? -Infinity) ||
    0
  );
}
