// What the edge decided in a bench:trust run, read back from its local D1 after the run: for each
// attack, how many of its results were ever verified, credited or still stand; honest cross-backend
// pairs the rule would dispute; executions per verified experiment in each phase; the ledger's chain.
import { earlySegments } from '../../shared/commit.ts';
import { verifyChain, type LedgerEntry, type LedgerRow } from '../../shared/ledger.ts';
import type { Metrics, Precision } from '../../shared/protocol.ts';
import type { ExperimentSpec } from '../../shared/spec.ts';
import { TAU_BPB, TAU_CURVE } from '../../shared/verify.ts';
import { replicasAgree } from '../../edge/src/trust/judge.ts';
import { queryLocal } from './local-edge.ts';
import { closeUnder } from './trust-model.ts';

/** What one attack submitted, and which of its submissions the edge took. */
export interface Tally {
  tried: number;
  refused: number;
  resultIds: string[];
  float16: Set<string>; // results claimed from a float16 path
  at: Map<string, number>; // when each was accepted
}

export interface HonestResult {
  experimentId: string;
  klass: string;
  metrics: Metrics;
  precision: Precision;
}

export interface RunRecord {
  persist: string;
  tallies: Map<string, Tally>;
  honestResults: Map<string, HonestResult>;
  specOf: (experimentId: string) => ExperimentSpec;
  trustedAt: number | null; // when 80 % of the honest fleet was trusted
  trustedPhase: number | null; // when the attackers left
  spotChecksDone: Map<string, number>; // fraction of each experiment spot checks retrained
}

export async function edgeDecisions(run: RunRecord) {
  const { persist: PERSIST, tallies, honestResults, trustedAt, trustedPhase, spotChecksDone } = run;
  const results = await queryLocal<{
    id: string;
    experimentId: string;
    verdict: string;
    createdAt: number;
    metricsJson: string;
  }>(
    PERSIST,
    'SELECT id, experiment_id AS experimentId, verdict, created_at AS createdAt, metrics_json AS metricsJson FROM results',
  );
  const experiments = await queryLocal<{
    id: string;
    status: string;
    verification: string | null;
    firstLease: number | null;
    firstVolunteer: string | null;
  }>(
    PERSIST,
    `SELECT e.id, e.status, e.verification, f.created_at AS firstLease, f.volunteer_id AS firstVolunteer FROM experiments e
      LEFT JOIN leases f ON f.id = (SELECT l.id FROM leases l WHERE l.experiment_id = e.id ORDER BY l.created_at LIMIT 1)`,
  );
  const ledgerRows = await queryLocal<LedgerRow>(
    PERSIST,
    'SELECT seq, prev_hash AS prevHash, hash, entry FROM ledger ORDER BY seq',
  );
  const chain = await verifyChain(ledgerRows);
  const entries = ledgerRows.map((r) => JSON.parse(r.entry) as LedgerEntry);
  const everValid = new Set(
    entries.filter((e) => e.kind === 'verdict' && e.verdict === 'valid').map((e) => e.resultId),
  );
  const everCredited = new Set(entries.filter((e) => e.kind === 'credit').map((e) => e.resultId));
  const revoked = new Set(entries.filter((e) => e.kind === 'revoke').map((e) => e.resultId));
  const finalVerdict = new Map(results.map((r) => [r.id, r.verdict]));

  const attacks: Record<string, Record<string, number>> = {};
  const byId = new Map(results.map((r) => [r.id, r]));
  const dishonestIds = new Set([...tallies.values()].flatMap((t) => t.resultIds));
  let dishonestTried = 0;
  let dishonestPassed = 0;
  let dishonestStanding = 0;
  for (const [name, t] of tallies) {
    const verified = t.resultIds.filter((id) => everValid.has(id)).length;
    const credited = t.resultIds.filter((id) => everCredited.has(id)).length;
    const standing = t.resultIds.filter(
      (id) => finalVerdict.get(id) === 'valid' && !revoked.has(id),
    ).length;
    const passed = t.resultIds.filter((id) => everValid.has(id) || everCredited.has(id)).length;
    const passedIds = t.resultIds.filter((id) => everValid.has(id) || everCredited.has(id));
    // Would it still agree with an honest result under the tolerances `npm run calibrate` measured
    // (see the header)? (Colluders pass by agreeing with each other, which no tolerance changes.)
    const underCalibrated = passedIds.filter((id) => {
      const mine = byId.get(id)!;
      return results.some(
        (o) =>
          o.id !== id &&
          o.experimentId === mine.experimentId &&
          everValid.has(o.id) &&
          !dishonestIds.has(o.id) &&
          closeUnder(
            JSON.parse(mine.metricsJson) as Metrics,
            JSON.parse(o.metricsJson) as Metrics,
            { bpb: TAU_BPB, curve: TAU_CURVE },
          ),
      );
    }).length;
    attacks[name] = {
      tried: t.tried,
      refused: t.refused,
      verified,
      credited,
      standingAtEnd: standing,
      // of those that passed: before most of the honest fleet was trusted (a cold start), and on float16 paths
      passedColdStart: passedIds.filter(
        (id) => trustedAt === null || (t.at.get(id) ?? 0) < trustedAt,
      ).length,
      passedFloat16: passedIds.filter((id) => t.float16.has(id)).length,
      agreesWithHonestUnderCalibratedTau: underCalibrated,
    };
    dishonestTried += t.tried;
    dishonestPassed += passed;
    dishonestStanding += standing;
  }

  // Honest pairs: replicas of one experiment from two honest volunteers of different classes.
  const byExperiment = new Map<
    string,
    { klass: string; metrics: Metrics; precision: Precision }[]
  >();
  for (const h of honestResults.values())
    (
      byExperiment.get(h.experimentId) ?? byExperiment.set(h.experimentId, []).get(h.experimentId)!
    ).push(h);
  let pairs = 0;
  let disputed = 0;
  for (const [experimentId, hs] of byExperiment) {
    const spec = run.specOf(experimentId);
    for (let a = 0; a < hs.length; a++)
      for (let b = a + 1; b < hs.length; b++) {
        if (hs[a]!.klass === hs[b]!.klass) continue;
        pairs++;
        if (!replicasAgree(hs[a]!.metrics, hs[b]!.metrics, earlySegments(spec, hs[a]!.precision)))
          disputed++;
      }
  }
  const honestInvalid = [...honestResults.keys()].filter(
    (id) => finalVerdict.get(id) === 'invalid',
  ).length;

  // Executions per verified experiment, among those first leased once the honest fleet was trusted.
  const resultsPer = new Map<string, number>();
  for (const r of results)
    resultsPer.set(r.experimentId, (resultsPer.get(r.experimentId) ?? 0) + 1);
  const honestOnly = new Set(
    [...byExperiment.keys()].filter(
      (e) => (resultsPer.get(e) ?? 0) === byExperiment.get(e)!.length,
    ),
  );
  const steady = experiments.filter(
    (e) =>
      e.status === 'verified' &&
      trustedAt !== null &&
      (e.firstLease ?? 0) >= trustedAt &&
      (trustedPhase === null || (e.firstLease ?? 0) < trustedPhase),
  );
  // A spot check costs the fraction of the experiment it retrains.
  const ratio = (es: typeof steady) =>
    es.length
      ? es.reduce((s, e) => s + (resultsPer.get(e.id) ?? 0) + (spotChecksDone.get(e.id) ?? 0), 0) /
        es.length
      : null;
  const steadyHonest = steady.filter((e) => honestOnly.has(e.id));
  // Once trusted: the experiments the honest fleet opened after the attackers left.
  const phase2 = experiments.filter(
    (e) => trustedPhase !== null && (e.firstLease ?? 0) >= trustedPhase,
  );
  const phase2Verified = phase2.filter((e) => e.status === 'verified');
  const round3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

  return {
    counts: {
      experiments: experiments.filter((e) => e.firstLease !== null).length,
      verified: experiments.filter((e) => e.status === 'verified').length,
      disputedExperiments: experiments.filter((e) => e.status === 'disputed').length,
      trustedSingle: experiments.filter((e) => e.verification === 'trusted-single').length,
    },
    attacks,
    detectionRate: round3(dishonestTried ? 1 - dishonestPassed / dishonestTried : 1),
    detectionRateAtEnd: round3(dishonestTried ? 1 - dishonestStanding / dishonestTried : 1),
    falseDisputeRate: round3(pairs ? disputed / pairs : 0),
    honestCrossBackendPairs: pairs,
    honestResultsInvalid: honestInvalid,
    executionsPerVerified: round3(ratio(phase2Verified)), // the trusted honest fleet alone (phase 2)
    executionsPerVerifiedUnderAttack: round3(ratio(steady)), // phase 1 once 80 % of the honest were trusted, attackers' work included
    executionsPerVerifiedUnderAttackHonestOnly: round3(ratio(steadyHonest)), // …experiments only honest volunteers touched
    steadyVerified: steady.length,
    trustedFleet: {
      opened: phase2.length,
      verified: phase2Verified.length,
      trustedSingle: phase2Verified.filter((e) => e.verification === 'trusted-single').length,
    },
    ledger: { ok: chain.ok, entries: chain.entries, head: chain.head },
  };
}
