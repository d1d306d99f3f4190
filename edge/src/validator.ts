// The validator: after each result, judge its experiment (trust/judge.ts) and write the outcome in
// one batch with its ledger entries — verdicts, credits and revocations, reputation, the
// volunteer's consecutive-valid count per backend class, its lease quota, audits of its earlier
// unreplicated results when it is caught, and spot checks of trusted-single results.
import type { Metrics, Precision, ResultVerdict, VerdictBasis } from '../../shared/protocol.ts';
import { commitSteps, EARLY_STEPS, earlySegments, stateBytes } from '../../shared/commit.ts';
import { ExperimentSpec, parameterCount, startStep } from '../../shared/spec.ts';
import { commitPlanned, type Committed, type NewEntry, type Planned } from './ledger.ts';
import { decayedTerm } from './trust/credit.ts';
import { judge, type JudgedExperiment, type JudgedResult, type Transition } from './trust/judge.ts';
import {
  CUT_OPEN_LEASES,
  MAX_OPEN_LEASES,
  MAX_REVEAL_BYTES,
  REPUTATION,
  REVEAL_WINDOW_MS,
  SPOT_CHECK_RATE,
} from './trust/policy.ts';
import { draw, trustSecrets } from './trust/secrets.ts';
import { reopenForAudit } from './trust/audit.ts';

export { MAX_REPLICAS } from './trust/policy.ts';

interface ExperimentRow {
  status: JudgedExperiment['status'];
  quorum: number;
  replicasNeeded: number;
  audit: number;
  verification: JudgedExperiment['verification'];
  valBpb: number | null;
  verifiedAt: number | null;
  reissuedAt: number | null;
  flops: number;
  trustVersion: number;
  specJson: string;
}

interface ResultRow {
  id: string;
  leaseId: string;
  volunteerId: string;
  verdict: ResultVerdict;
  basis: VerdictBasis | null;
  creditState: 'none' | 'granted' | 'revoked';
  creditedAt: number | null;
  metricsJson: string;
  backendClass: string;
  precision: string;
  leaseIp: string | null;
  registrationIp: string | null;
  single: number;
  leasedAt: number;
  cv: number | null;
  reputation: number;
}

const RESULTS_SQL = `
SELECT r.id, r.lease_id AS leaseId, r.volunteer_id AS volunteerId, r.verdict, r.basis, r.credit_state AS creditState, r.credited_at AS creditedAt,
  r.metrics_json AS metricsJson, COALESCE(l.backend_class, l.backend) AS backendClass, l.precision,
  l.ip_hash AS leaseIp, v.ip_hash AS registrationIp, l.single, l.created_at AS leasedAt, v.reputation,
  (SELECT c.consecutive_valid FROM volunteer_classes c
    WHERE c.volunteer_id = r.volunteer_id AND c.backend_class = COALESCE(l.backend_class, l.backend)) AS cv
FROM results r JOIN leases l ON l.id = r.lease_id JOIN volunteers v ON v.id = r.volunteer_id
WHERE r.experiment_id = ? ORDER BY r.created_at, r.id`;

/**
 * What a plan reads: the experiment and its results (a concurrent decision on the experiment moves
 * its trust_version, the batch fails, and the plan is taken again from fresh reads).
 */
export function planReads(db: D1Database, experimentId: string): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `SELECT status, quorum, replicas_needed AS replicasNeeded, audit, verification, val_bpb AS valBpb, verified_at AS verifiedAt,
         reissued_at AS reissuedAt, flops, trust_version AS trustVersion, spec_json AS specJson FROM experiments WHERE id = ?`,
      )
      .bind(experimentId),
    db.prepare(RESULTS_SQL).bind(experimentId),
  ];
}

/**
 * Judges the experiment and commits the outcome. `firstReads`: planReads' results, already read
 * in the caller's batch (the result's own write), for the first attempt. `tail`: reads to ride at
 * the end of the committing batch (ledger.ts commitPlanned).
 */
export async function validateExperiment(
  db: D1Database,
  experimentId: string,
  now: number,
  firstReads?: D1Result[],
  tail: D1PreparedStatement[] = [],
): Promise<Committed> {
  return commitPlanned(
    db,
    (attempt) => plan(db, experimentId, now, attempt === 1 ? firstReads : undefined),
    now,
    tail,
  );
}

async function plan(
  db: D1Database,
  experimentId: string,
  now: number,
  reads?: D1Result[],
): Promise<Planned | null> {
  const [expRes, resRes] = reads ?? (await db.batch(planReads(db, experimentId)));
  const exp = (expRes!.results as ExperimentRow[])[0];
  if (!exp) return null;
  const rows = resRes!.results as ResultRow[];
  const results: JudgedResult[] = rows.map((r) => ({
    id: r.id,
    volunteerId: r.volunteerId,
    verdict: r.verdict,
    basis: r.basis,
    metrics: JSON.parse(r.metricsJson) as Metrics,
    backendClass: r.backendClass,
    leaseIp: r.leaseIp,
    registrationIp: r.registrationIp,
    single: r.single === 1,
    leasedAt: r.leasedAt,
    consecutiveValid: r.cv ?? 0,
    reputation: r.reputation,
  }));
  const spec = ExperimentSpec.parse(JSON.parse(exp.specJson));
  const before: JudgedExperiment = {
    status: exp.status,
    quorum: exp.quorum,
    replicasNeeded: exp.replicasNeeded,
    audit: exp.audit === 1,
    verification: exp.verification,
    valBpb: exp.valBpb,
    earlySegments: earlySegments(spec, rows[0]?.precision as Precision | undefined),
    publishedAt: exp.verifiedAt,
  };
  const j = judge(before, results);
  const after = j.experiment;
  const changed =
    j.transitions.length > 0 ||
    j.release.length > 0 ||
    after.status !== before.status ||
    after.replicasNeeded !== before.replicasNeeded;
  if (!changed) return null;

  const statements: D1PreparedStatement[] = [];
  const entries: NewEntry[] = [];
  const verifiedNow = after.status === 'verified' && before.status !== 'verified';
  // The optimistic lock: a concurrent writer bumped trust_version, so this write sets NULL into a
  // NOT NULL column, and the whole batch rolls back and is planned again (ledger.ts).
  statements.push(
    db
      .prepare(
        `UPDATE experiments SET trust_version = CASE WHEN trust_version = ?1 THEN ?1 + 1 END,
         status = ?2, val_bpb = ?3, verified_at = ?4, verification = ?5, replicas_needed = ?6, reissued_at = ?7
       WHERE id = ?8`,
      )
      .bind(
        exp.trustVersion,
        after.status,
        after.valBpb,
        verifiedNow ? now : exp.verifiedAt,
        after.verification,
        after.replicasNeeded,
        j.reissue ? now : exp.reissuedAt,
        experimentId,
      ),
  );
  for (const i of j.release)
    statements.push(db.prepare('UPDATE leases SET single = 0 WHERE id = ?').bind(rows[i]!.leaseId));
  if (before.status === 'open' && after.status !== 'open') {
    // Settled: its metrics become readable now, so no lease still training on it may deliver (a
    // result must never be accepted once another replica's metrics could have been seen). The
    // holders learn it from their next heartbeat (lease_expired) and stop.
    statements.push(
      db
        .prepare(
          "UPDATE leases SET deadline = ?1 WHERE experiment_id = ?2 AND status = 'open' AND deadline > ?1",
        )
        .bind(now, experimentId),
    );
  }
  if (j.disputed) {
    entries.push({
      key: `dispute:${experimentId}`,
      kind: 'dispute',
      experimentId,
      resultId: null,
      volunteerId: null,
    });
  }
  statements.push(...witnessStatements(db, rows, j.transitions, now));
  const secrets = j.transitions.some((t) => t.basis === 'trusted-single')
    ? await trustSecrets(db)
    : null;
  for (const t of j.transitions) {
    const r = rows[t.index]!;
    const verdictEntry: NewEntry = {
      key: `verdict:${r.id}:${t.to}:${t.basis}`,
      kind: 'verdict',
      experimentId,
      resultId: r.id,
      volunteerId: r.volunteerId,
      verdict: t.to,
      basis: t.basis,
      ...(after.valBpb !== null && { valBpb: after.valBpb }),
    };
    entries.push(verdictEntry);
    let creditState = r.creditState;
    let creditedAt = r.creditedAt;
    if (t.to === 'valid') {
      if (t.basis !== 'trusted-single')
        statements.push(...standingStatements(db, r.volunteerId, r.backendClass, now, true));
      if (creditState === 'none') {
        creditState = 'granted';
        creditedAt = now;
        statements.push(
          db
            .prepare(
              'UPDATE volunteers SET credit_total = credit_total + ?, credit_decayed = credit_decayed + ? WHERE id = ?',
            )
            .bind(exp.flops, decayedTerm(exp.flops, now), r.volunteerId),
        );
        entries.push({
          key: `credit:${r.id}`,
          kind: 'credit',
          experimentId,
          resultId: r.id,
          volunteerId: r.volunteerId,
          flops: exp.flops,
        });
      }
      const checkable = before.earlySegments > 0 && commitSteps(spec.train)[0]! <= EARLY_STEPS;
      if (
        t.basis === 'trusted-single' &&
        secrets &&
        checkable &&
        (await draw(secrets.drawKey, `spot:${r.id}`)) < SPOT_CHECK_RATE
      ) {
        statements.push(
          spotCheckStatement(
            db,
            spec,
            r,
            experimentId,
            now,
            await draw(secrets.drawKey, `spot-from:${r.id}`),
          ),
        );
      }
    } else {
      statements.push(...standingStatements(db, r.volunteerId, r.backendClass, now, false));
      statements.push(reopenForAudit(db, r.volunteerId, now, experimentId));
      if (creditState === 'granted') {
        creditState = 'revoked';
        statements.push(
          db
            .prepare(
              'UPDATE volunteers SET credit_total = credit_total - ?, credit_decayed = credit_decayed - ? WHERE id = ?',
            )
            .bind(exp.flops, decayedTerm(exp.flops, creditedAt ?? now), r.volunteerId),
        );
        entries.push({
          key: `revoke:${r.id}`,
          kind: 'revoke',
          experimentId,
          resultId: r.id,
          volunteerId: r.volunteerId,
          flops: exp.flops,
        });
      }
    }
    statements.push(
      db
        .prepare(
          'UPDATE results SET verdict = ?, basis = ?, credit_state = ?, credited_at = ? WHERE id = ?',
        )
        .bind(t.to, t.basis, creditState, creditedAt, r.id),
    );
  }
  return { statements, entries };
}

/**
 * Who witnessed whom: every result verified by replication now, paired both ways with each other
 * result of another volunteer that stands verified by replication beside it (trust/policy.ts
 * MIN_WITNESSES, and spot checks' independence).
 */
function witnessStatements(
  db: D1Database,
  rows: ResultRow[],
  transitions: Transition[],
  now: number,
): D1PreparedStatement[] {
  const byReplication = (b: VerdictBasis | null) => b === 'quorum' || b === 'late';
  const verdict = new Map(rows.map((r, i) => [i, { to: r.verdict, basis: r.basis }]));
  for (const t of transitions) verdict.set(t.index, { to: t.to, basis: t.basis });
  const agreeing = rows.flatMap((_, i) =>
    verdict.get(i)!.to === 'valid' && byReplication(verdict.get(i)!.basis) ? [i] : [],
  );
  const fresh = transitions.flatMap((t) =>
    t.to === 'valid' && byReplication(t.basis) ? [t.index] : [],
  );
  const pairs = new Set<string>();
  for (const i of fresh)
    for (const k of agreeing) {
      if (rows[i]!.volunteerId === rows[k]!.volunteerId) continue;
      pairs.add(`${i} ${k}`);
      pairs.add(`${k} ${i}`);
    }
  return [...pairs].map((p) => {
    const [a, b] = p.split(' ').map((x) => rows[Number(x)]!);
    return db
      .prepare(
        'INSERT OR IGNORE INTO witnesses (volunteer_id, witness_id, witness_ip, first_at) VALUES (?, ?, ?, ?)',
      )
      .bind(a!.volunteerId, b!.volunteerId, b!.registrationIp ?? b!.leaseIp, now);
  });
}

/**
 * A result judged by replication: valid — reputation up, one more consecutive valid result, the
 * open-lease quota restored by one; invalid — reputation cut hard, the consecutive count reset, the
 * quota cut (trust/policy.ts).
 */
function standingStatements(
  db: D1Database,
  volunteerId: string,
  backendClass: string,
  now: number,
  valid: boolean,
): D1PreparedStatement[] {
  const volunteer = valid
    ? db
        .prepare(
          'UPDATE volunteers SET reputation = MIN(?, reputation + ?), lease_quota = MIN(?, lease_quota + 1) WHERE id = ?',
        )
        .bind(REPUTATION.max, REPUTATION.valid, MAX_OPEN_LEASES, volunteerId)
    : db
        .prepare(
          'UPDATE volunteers SET reputation = MAX(?, reputation + ?), lease_quota = ? WHERE id = ?',
        )
        .bind(REPUTATION.min, REPUTATION.invalid, CUT_OPEN_LEASES, volunteerId);
  const [cv, v, inv] = valid ? ['consecutive_valid + 1', 1, 0] : ['0', 0, 1];
  return [
    volunteer,
    db
      .prepare(
        `INSERT INTO volunteer_classes (volunteer_id, backend_class, consecutive_valid, valid, invalid, updated_at) VALUES (?1, ?2, ?3, ?3, ?4, ?5)
         ON CONFLICT (volunteer_id, backend_class) DO UPDATE SET consecutive_valid = ${cv}, valid = valid + ?3, invalid = invalid + ?4,
           updated_at = excluded.updated_at`,
      )
      .bind(volunteerId, backendClass, v, inv, now),
  ];
}

/**
 * A spot check of a trusted-single result, from a point drawn with `u` (secret, after the result
 * committed to all its checkpoints): the seed (step 0) — a continuation's parent checkpoint — or
 * one of its committed checkpoints but the last, which its volunteer must then reveal
 * (trust/spot-checks.ts). The checker trains up to the next commit step and must match the
 * result's curve over that segment. Steps count from the lineage's start (shared/spec.ts).
 */
function spotCheckStatement(
  db: D1Database,
  spec: ExperimentSpec,
  r: ResultRow,
  experimentId: string,
  now: number,
  u: number,
): D1PreparedStatement {
  const steps = commitSteps(spec.train);
  const metrics = JSON.parse(r.metricsJson) as Metrics;
  const revealable =
    metrics.commitments?.length === steps.length &&
    stateBytes([parameterCount(spec.model)]) <= MAX_REVEAL_BYTES;
  const k = revealable ? Math.floor(u * steps.length) - 1 : -1; // -1: from the seed or the parent
  const start = startStep(spec);
  const fromStep = start + (k < 0 ? 0 : steps[k]!);
  const toStep = start + steps[k + 1]!;
  const every = spec.train.curveEvery;
  const expected = metrics.curve.slice(
    (fromStep - start) / every,
    Math.ceil((toStep - start) / every),
  );
  return db
    .prepare(
      `INSERT OR IGNORE INTO spot_checks (id, result_id, experiment_id, from_step, to_step, commitment, reveal_deadline, expected_json, precision, status, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      r.id.replace(/^r/, 's'), // r_… → s_…, r3_… → s3_…: the spot check stays in the result's shard
      r.id,
      experimentId,
      fromStep,
      toStep,
      k < 0 ? null : metrics.commitments![k]!,
      k < 0 ? null : now + REVEAL_WINDOW_MS,
      JSON.stringify(expected),
      r.precision,
      k < 0 ? 'open' : 'awaiting-reveal',
      now,
    );
}
