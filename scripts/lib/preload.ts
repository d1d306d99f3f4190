// bench:edge --preload N: fills a migrated local D1 with N verified experiments of finished
// campaigns, written straight into the database file through the real schema (its tables, indexes,
// constraints and triggers), so the benchmark can compare the edge's latency on an empty database
// with the same fleet on a full one.
//
// Per verified experiment, what the edge itself writes when two honest replicas agree (measured in
// a bench:edge run): the experiment (one of 10,000 in its campaign, the bench's tiny spec), two
// leases (done), two results (valid, credited; metrics and signed payload of a real result's size),
// the witness pair, and four ledger entries (two verdicts, two credits) on one hash chain that
// `npm run ledger:verify` accepts. One volunteer per 10 experiments (each with its backend class
// row), registered over the last 30 days.
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from '../../shared/canonical.ts';
import {
  entryHash,
  GENESIS_HASH,
  LEDGER_HEAD_SQL,
  LEDGER_INSERT_SQL,
  ledgerRow,
  type LedgerEntry,
} from '../../shared/ledger.ts';
import { trainingFlops, type ExperimentSpec } from '../../shared/spec.ts';

/** The preloaded campaigns' ids start with this (the benchmarks' checks leave them out). */
export const PRELOAD_PREFIX = 'preload-';
export const EXPERIMENTS_PER_CAMPAIGN = 10_000;
export const EXPERIMENTS_PER_VOLUNTEER = 10;
const DAY_MS = 86_400_000;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const b64 = (bytes: number) => randomBytes(bytes).toString('base64url');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export interface PreloadOptions {
  file: string; // the local D1 SQLite file, migrated, with the edge stopped
  experiments: number;
  datasetId: string; // a registered dataset (the bench's synthetic one)
  spec: (seed: number) => ExperimentSpec; // the bench's spec for a seed
  now: number;
  onProgress?: (done: number) => void;
}

/** Writes the preload; returns the rows written per table. */
export async function preload(o: PreloadOptions): Promise<Record<string, number>> {
  // Imported here: node:sqlite warns that it is experimental, and only --preload needs it.
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(o.file);
  // The file is ours until the edge starts: no fsync per transaction (the run never needs it).
  db.exec('PRAGMA synchronous = OFF');
  const rows: Record<string, number> = {};
  const count = (table: string, n = 1) => (rows[table] = (rows[table] ?? 0) + n);
  const head = db.prepare(LEDGER_HEAD_SQL).get() as { seq: number; hash: string } | undefined;
  let prev = head ?? { seq: 0, hash: GENESIS_HASH };
  // The chain's one rule (shared/ledger.ts entryHash), checked once against Node's hash used below.
  if ((await entryHash(GENESIS_HASH, '{}')) !== sha(GENESIS_HASH + '{}'))
    throw new Error('preload: node:crypto disagrees with shared/ledger.ts entryHash');

  const insert = {
    campaign: db.prepare(
      `INSERT INTO campaigns (id, name, brief, template, dataset_id, created_at) VALUES (?, ?, ?, 'gpt-char', ?, ?)`,
    ),
    volunteer: db.prepare(
      `INSERT INTO volunteers (id, public_key, created_at, ip_hash, reputation, lease_quota, credit_total, credit_decayed, registered_ts)
       VALUES (?, ?, ?, ?, ?, 2, ?, ?, ?)`,
    ),
    klass: db.prepare(
      `INSERT INTO volunteer_classes (volunteer_id, backend_class, consecutive_valid, valid, invalid, updated_at) VALUES (?, 'wasm', ?, ?, 0, ?)`,
    ),
    experiment: db.prepare(
      `INSERT INTO experiments (id, campaign_id, idx, spec_json, spec_hash, dataset_sha256, flops, tokens, replicas_needed, status,
         val_bpb, verified_at, quorum, verification, trust_version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 2, 'verified', ?, ?, 2, 'quorum', 2)`,
    ),
    lease: db.prepare(
      `INSERT INTO leases (id, experiment_id, volunteer_id, token_hash, backend, created_at, deadline, status, backend_class, precision, ip_hash, single)
       VALUES (?, ?, ?, ?, 'wasm', ?, ?, 'done', 'wasm', 'float32', ?, 0)`,
    ),
    result: db.prepare(
      `INSERT INTO results (id, lease_id, experiment_id, volunteer_id, backend, val_bpb, metrics_json, payload_json, signature, created_at,
         verdict, basis, credit_state, credited_at)
       VALUES (?, ?, ?, ?, 'wasm', ?, ?, ?, ?, ?, 'valid', 'quorum', 'granted', ?)`,
    ),
    witness: db.prepare(
      'INSERT OR IGNORE INTO witnesses (volunteer_id, witness_id, witness_ip, first_at) VALUES (?, ?, ?, ?)',
    ),
    ledger: db.prepare(LEDGER_INSERT_SQL),
  };
  const append = (key: string, fields: Omit<LedgerEntry, 'seq' | 'at'>, at: number) => {
    const entry: LedgerEntry = { ...fields, seq: prev.seq + 1, at };
    const json = canonicalJson(entry);
    const hash = sha(prev.hash + json);
    insert.ledger.run(...ledgerRow(key, entry, json, prev.hash, hash));
    count('ledger');
    prev = { seq: entry.seq, hash };
  };

  const volunteers = Math.max(2, Math.ceil(o.experiments / EXPERIMENTS_PER_VOLUNTEER));
  const start = o.now - 30 * DAY_MS; // the preload's history spans the last 30 days
  const span = 30 * DAY_MS - 60_000;
  const volunteerIds: string[] = [];
  const ipOf: string[] = [];
  const tx = (fn: () => void) => {
    db.exec('BEGIN');
    fn();
    db.exec('COMMIT');
  };
  tx(() => {
    for (let v = 0; v < volunteers; v++) {
      const id = `v_${hex(16)}`;
      const at = start + Math.floor((v / volunteers) * span);
      volunteerIds.push(id);
      ipOf.push(hex(16));
      // Credit is written as the run leaves it: its total and decayed sum stay plausible, not exact.
      insert.volunteer.run(id, b64(32), at, ipOf[v]!, 20, 0, 0, at);
      insert.klass.run(id, EXPERIMENTS_PER_VOLUNTEER, 2 * EXPERIMENTS_PER_VOLUNTEER, at);
      count('volunteers');
      count('volunteer_classes');
    }
  });

  const metricsOf = (valBpb: number) =>
    canonicalJson({
      valBpb,
      valLoss: valBpb * Math.LN2,
      curve: [3.5, 3.4, valBpb + 0.8],
      steps: 30,
      tokens: 3840,
      backend: 'wasm',
      wallMs: 1000,
      msPerStep: 30,
      commitments: [hex(32), hex(32), hex(32)],
    });
  const BATCH = 5_000;
  for (let first = 0; first < o.experiments; first += BATCH) {
    tx(() => {
      for (let i = first; i < Math.min(o.experiments, first + BATCH); i++) {
        const campaign = `${PRELOAD_PREFIX}${Math.floor(i / EXPERIMENTS_PER_CAMPAIGN)}`;
        const idx = i % EXPERIMENTS_PER_CAMPAIGN;
        const at = start + Math.floor((i / o.experiments) * span);
        if (idx === 0) {
          insert.campaign.run(
            campaign,
            `Preloaded ${campaign}`,
            'A finished campaign written by bench:edge --preload.',
            o.datasetId,
            at,
          );
          count('campaigns');
        }
        const spec = o.spec(i + 1);
        const specJson = canonicalJson(spec);
        const id = `${campaign}-${idx}`;
        const valBpb = Number((2.4 + (i % 997) / 10_000).toFixed(4));
        const flops = trainingFlops(spec);
        insert.experiment.run(
          id,
          campaign,
          idx,
          specJson,
          sha(specJson),
          spec.dataset.sha256,
          flops,
          3840,
          valBpb,
          at + 60_000,
        );
        count('experiments');
        const pair = [
          (i * 7) % volunteers,
          (i * 7 + 1 + (i % (volunteers - 1))) % volunteers,
        ] as const;
        for (const v of pair) {
          const leaseId = `l_${b64(12)}`;
          const resultId = `r_${hex(12)}`;
          const volunteerId = volunteerIds[v]!;
          insert.lease.run(leaseId, id, volunteerId, hex(32), at, at + 600_000, ipOf[v]!);
          const metrics = metricsOf(valBpb);
          const payload = canonicalJson({
            type: 'result',
            leaseId,
            leaseToken: b64(32),
            experimentId: id,
            specHash: sha(specJson),
            datasetSha256: spec.dataset.sha256,
            metrics: JSON.parse(metrics) as unknown,
          });
          insert.result.run(
            resultId,
            leaseId,
            id,
            volunteerId,
            valBpb,
            metrics,
            payload,
            b64(64),
            at + 30_000,
            at + 60_000,
          );
          count('leases');
          count('results');
          append(
            `verdict:${resultId}:valid:quorum`,
            {
              kind: 'verdict',
              experimentId: id,
              resultId,
              volunteerId,
              verdict: 'valid',
              basis: 'quorum',
              valBpb,
            },
            at + 60_000,
          );
          append(
            `credit:${resultId}`,
            { kind: 'credit', experimentId: id, resultId, volunteerId, flops },
            at + 60_000,
          );
        }
        const [a, b] = [volunteerIds[pair[0]]!, volunteerIds[pair[1]]!];
        insert.witness.run(a, b, ipOf[pair[1]]!, at);
        insert.witness.run(b, a, ipOf[pair[0]]!, at);
        count('witnesses', 2);
      }
    });
    o.onProgress?.(Math.min(o.experiments, first + BATCH));
  }
  // Each volunteer's credit as the ledger gives it (its credits' FLOPs), in one statement.
  db.exec(`UPDATE volunteers SET credit_total = (SELECT coalesce(sum(e.flops), 0) FROM results r
    JOIN experiments e ON e.id = r.experiment_id WHERE r.volunteer_id = volunteers.id)
    WHERE id IN (SELECT id FROM volunteers WHERE reputation = 20 AND credit_total = 0)`);
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  return rows;
}
