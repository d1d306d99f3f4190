// Judging one experiment's results, purely: which results are one identity (same volunteer or same
// address), which are copies, whether a quorum agrees, and what each result's verdict becomes.
// edge/src/validator.ts loads the state, calls judge() and writes what it returns.
import { earlyAgree } from '../../../shared/commit.ts';
import type { Metrics, ResultVerdict, VerdictBasis } from '../../../shared/protocol.ts';
import { agree, median } from '../../../shared/verify.ts';
import { CV_TRUSTED, MAX_REPLICAS, RELIABLE_REPUTATION } from './policy.ts';

export interface JudgedResult {
  id: string;
  volunteerId: string;
  verdict: ResultVerdict;
  basis: VerdictBasis | null;
  metrics: Metrics;
  backendClass: string; // from the lease, as claimed when the work was handed out
  leaseIp: string | null; // salted hashes (trust/secrets.ts)
  registrationIp: string | null;
  single: boolean; // the lease's replication draw let it stand alone
  leasedAt: number; // when its lease was claimed
  consecutiveValid: number; // the volunteer's CV in this backend class, now
  reputation: number;
}

export interface JudgedExperiment {
  status: 'open' | 'verified' | 'disputed';
  quorum: number;
  replicasNeeded: number;
  audit: boolean;
  verification: 'quorum' | 'trusted-single' | null;
  valBpb: number | null;
  earlySegments: number; // leading curve segments that must agree to TAU_SPOT (shared/commit.ts)
  /**
   * When its metrics were first published (its first verification), or null. A result leased after
   * that could have copied them: it is no witness for a result published before it (an audit needs
   * a quorum of replicas leased after publication).
   */
  publishedAt: number | null;
}

export interface Transition {
  index: number; // into the results array
  to: 'valid' | 'invalid';
  basis: VerdictBasis;
}

export interface Judgement {
  transitions: Transition[];
  experiment: JudgedExperiment;
  reissue: boolean; // more replicas were asked after a disagreement: reliable volunteers first
  disputed: boolean; // became disputed now
  release: number[]; // results whose single lease must give its replica slots back
}

/**
 * Identity classes: results of one volunteer, or whose leases or registrations came from one
 * address, count as one witness (union-find over volunteer ids and salted IP hashes).
 */
export function identities(
  rs: Pick<JudgedResult, 'volunteerId' | 'leaseIp' | 'registrationIp'>[],
): number[] {
  const parent = rs.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const owner = new Map<string, number>();
  rs.forEach((r, i) => {
    for (const tag of [
      `v:${r.volunteerId}`,
      r.leaseIp && `ip:${r.leaseIp}`,
      r.registrationIp && `ip:${r.registrationIp}`,
    ]) {
      if (!tag) continue;
      const j = owner.get(tag);
      if (j === undefined) owner.set(tag, i);
      else parent[find(i)] = find(j);
    }
  });
  return rs.map((_, i) => find(i));
}

/** Bit-identical metrics. Honest runs are bit-identical only on the same backend (docs/backends.md). */
function sameNumbers(a: Metrics, b: Metrics): boolean {
  return (
    a.valBpb === b.valBpb &&
    a.valLoss === b.valLoss &&
    a.curve.length === b.curve.length &&
    a.curve.every((x, i) => x === b.curve[i])
  );
}

/**
 * Copies: a result bit-identical to an earlier one from another backend class. Backends round
 * differently, so such a pair means one was copied; the later one is taken for the copy.
 */
export function copies(
  rs: Pick<JudgedResult, 'metrics' | 'backendClass' | 'volunteerId'>[],
): Set<number> {
  const out = new Set<number>();
  rs.forEach((r, j) => {
    if (
      rs
        .slice(0, j)
        .some(
          (e) =>
            e.volunteerId !== r.volunteerId &&
            e.backendClass !== r.backendClass &&
            sameNumbers(e.metrics, r.metrics),
        )
    )
      out.add(j);
  });
  return out;
}

/**
 * Two results agree: shared/verify.ts's rule (final val_bpb within TAU_BPB, every segment within
 * TAU_CURVE) and, in the early window where backends match to ~1e-6, segments within TAU_SPOT —
 * so each replica is also a spot check of the other's first segments.
 */
export function replicasAgree(a: Metrics, b: Metrics, earlySegments: number): boolean {
  return agree(a, b) && earlyAgree(a.curve, b.curve, earlySegments);
}

/**
 * The largest group of results that agree with one member (its centre) and hold at least
 * `needed(group)` distinct identities: findQuorum (shared/verify.ts) with replicasAgree and
 * identities. An identity of -1 is no witness (a result that could have copied the others).
 */
export function agreeingGroup(
  ms: Metrics[],
  ids: number[],
  needed: (group: number[]) => number,
  earlySegments: number,
): number[] | null {
  let best: number[] = [];
  for (let i = 0; i < ms.length; i++) {
    const group = ms.flatMap((m, j) => (replicasAgree(ms[i]!, m, earlySegments) ? [j] : []));
    const witnesses = new Set(group.map((j) => ids[j]).filter((id) => id! >= 0)).size;
    if (witnesses >= needed(group) && group.length > best.length) best = group;
  }
  return best.length ? best : null;
}

/**
 * Identities a group of results needs: the experiment's quorum, and one more when every member is
 * a newcomer (below RELIABLE_REPUTATION) with an address of its own. That is the cold start: before
 * anyone is reliable the scheduler cannot pair newcomers with reliable volunteers, so colluders on
 * a few addresses meet by chance (bench:trust: 4 of 240 of their results verified with two
 * witnesses); a third agreeing identity makes that chance its square. Once someone is reliable,
 * newcomers replicate reliable volunteers' work first and a pair with a reliable member suffices,
 * so the extra replica costs only the cold start. Browsers on a local edge have no address
 * (trust/secrets.ts: loopback is no identity), so two local browsers still verify each other.
 */
export function witnessesNeeded(
  quorum: number,
  members: Pick<JudgedResult, 'reputation' | 'leaseIp' | 'registrationIp'>[],
): number {
  const coldStart = members.every(
    (r) => r.reputation < RELIABLE_REPUTATION && (r.leaseIp !== null || r.registrationIp !== null),
  );
  return quorum + (coldStart ? 1 : 0);
}

/** Whether a pending result may stand alone as trusted-single (its volunteer still earns it). */
function trustedSingle(e: JudgedExperiment, rs: JudgedResult[]): boolean {
  const r = rs[0]!;
  return (
    rs.length === 1 &&
    !e.audit &&
    r.verdict === 'pending' &&
    r.single &&
    r.consecutiveValid >= CV_TRUSTED &&
    r.reputation >= 0
  );
}

export function judge(e: JudgedExperiment, rs: JudgedResult[]): Judgement {
  const transitions: Transition[] = [];
  const next: JudgedExperiment = { ...e };
  const copied = copies(rs);
  for (const j of copied)
    if (rs[j]!.verdict !== 'invalid') transitions.push({ index: j, to: 'invalid', basis: 'copy' });
  const candidates = rs.flatMap((r, i) => (r.verdict !== 'invalid' && !copied.has(i) ? [i] : []));
  const ids = identities(rs);
  const done = (extra: Partial<Judgement> = {}): Judgement => ({
    transitions,
    experiment: next,
    reissue: false,
    disputed: false,
    release: [],
    ...extra,
  });

  if (e.status === 'verified') {
    // Late results (leases that were live when the quorum formed) are judged against the member
    // closest to the canonical value.
    const members = candidates.filter((i) => rs[i]!.verdict === 'valid');
    const canon = members.sort(
      (a, b) =>
        Math.abs(rs[a]!.metrics.valBpb - (e.valBpb ?? 0)) -
        Math.abs(rs[b]!.metrics.valBpb - (e.valBpb ?? 0)),
    )[0];
    for (const i of candidates) {
      if (rs[i]!.verdict !== 'pending' || canon === undefined) continue;
      const ok =
        replicasAgree(rs[i]!.metrics, rs[canon]!.metrics, e.earlySegments) && ids[i] !== ids[canon];
      transitions.push({ index: i, to: ok ? 'valid' : 'invalid', basis: ok ? 'late' : 'outvoted' });
    }
    return done();
  }
  if (e.status !== 'open') return done();

  const needed = (group: number[]) =>
    witnessesNeeded(
      e.quorum,
      group.map((k) => rs[candidates[k]!]!),
    );
  // After publication (an audit of a verified experiment), only results leased since then count as
  // witnesses: the published ones join a group that agrees with them, but cannot form it.
  const witness = (i: number) => e.publishedAt === null || rs[i]!.leasedAt >= e.publishedAt;
  const quorum = agreeingGroup(
    candidates.map((i) => rs[i]!.metrics),
    candidates.map((i) => (witness(i) ? ids[i]! : -1)),
    needed,
    e.earlySegments,
  );
  if (quorum) {
    const members = new Set(quorum.map((k) => candidates[k]!));
    for (const i of candidates) {
      const r = rs[i]!;
      if (members.has(i)) {
        if (r.verdict === 'pending' || r.basis !== 'quorum')
          transitions.push({ index: i, to: 'valid', basis: 'quorum' });
      } else {
        transitions.push({
          index: i,
          to: 'invalid',
          basis: r.verdict === 'valid' ? 'overturned' : 'outvoted',
        });
      }
    }
    Object.assign(next, {
      status: 'verified',
      verification: 'quorum',
      valBpb: median([...members].map((i) => rs[i]!.metrics.valBpb)),
    });
    return done();
  }
  if (trustedSingle(e, rs)) {
    transitions.push({ index: 0, to: 'valid', basis: 'trusted-single' });
    Object.assign(next, {
      status: 'verified',
      verification: 'trusted-single',
      valBpb: rs[0]!.metrics.valBpb,
    });
    return done();
  }
  if (rs.length >= MAX_REPLICAS) {
    next.status = 'disputed';
    return done({ disputed: true });
  }
  // Not decided yet: one more replica than there are results (a replica still training counts
  // once it reports), never fewer than the quorum. A single lease whose volunteer lost its trust
  // meanwhile gives its slots back, so that a replica can be leased.
  next.replicasNeeded = Math.min(MAX_REPLICAS, Math.max(e.replicasNeeded, e.quorum, rs.length + 1));
  const release = rs.flatMap((r, i) => (r.single ? [i] : []));
  return done({ reissue: next.replicasNeeded > Math.max(e.replicasNeeded, e.quorum), release });
}
