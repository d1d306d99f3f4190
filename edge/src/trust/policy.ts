// The trust rules' numbers in one place: adaptive replication (BOINC), reputation, quotas, steering.
// Everything here is pure; the validator and the scheduler apply it to D1.
//
// What the rules stop, and what remains (measured by `npm run bench:trust`):
// - A result is verified only by agreement with another identity: another volunteer that neither
//   registered nor leased from the same address (salted hashes of CF-Connecting-IP). Agreement is
//   shared/verify.ts's tolerance plus, in the first 200 steps where backends match to ~1e-6, a
//   1e-3 bound on the curve (shared/commit.ts), which a different seed, data order or a fabricated
//   curve misses by ~1e-2.
// - Sybils: keys are free, addresses are not. One person with many keys behind one address never
//   verifies itself. With many addresses (a botnet, residential proxies, cloud machines) their keys
//   are independent volunteers to the edge; they succeed only when the scheduler happens to pair
//   two of them on one experiment. The scheduler makes that rare once anyone is reliable (newcomers
//   replicate reliable volunteers' work and the reverse, oldest slot first), but a fleet of
//   colluders large relative to the honest one will meet. During a cold start, when nobody is
//   reliable yet, a group of newcomers with addresses needs a third witness (trust/judge.ts
//   witnessesNeeded): colluders then need three of their own on one experiment, not two. IPv6
//   gives one person a whole /64, so an IPv6 address counts by its /64 (trust/secrets.ts).
// - Free-riding: copying a partner's honest result gets credit for work not done; replication cannot
//   see it, since the value is right. Exact copies across backend classes are caught (backends never
//   agree to the bit); perturbed ones are not. Unsettled results are sealed, and settling ends every
//   other lease on the experiment (docs/trust.md, "Sealed until settled"), so a copier needs an
//   accomplice on the same experiment; replica slots go to the highest tier training, oldest first,
//   so a copier cannot steer itself onto its accomplice's experiment.
// - Addresses come from Cloudflare's CF-Connecting-IP, or locally from a front with a per-run secret
//   (edge/src/client-address.ts): a client never chooses its own.
// - float16 paths get no early-window check (not measured) and so only shared/verify.ts's
//   tolerance; a client can claim float16 for that. Calibrate float16 separately.
// - A trusted volunteer (CV ≥ 10) that starts cheating gets 1 − 1/CV of its results accepted
//   unreplicated at first. A quarter of those get a spot check from the seed or from one of the
//   result's committed checkpoints, drawn after it committed to all of them: a fabricated curve, or
//   one trained only in part, fails where it was not trained; any invalid result reopens all its
//   unreplicated results for audit and revokes what a quorum overturns.

/** Results from distinct volunteers needed before a result may stand alone (BOINC's threshold). */
export const CV_TRUSTED = 10;
/**
 * Distinct identities (addresses, or keys without one) that must have verified a volunteer's work
 * before its results may stand alone: a reputation farmed by two colluders verifying each other
 * never makes one of them trusted.
 */
export const MIN_WITNESSES = 5;
/** Replicas an experiment may get before it is declared disputed. */
export const MAX_REPLICAS = 5;

/** Reputation lives in −100..+100: a replication-verified result adds 2, an invalid one takes 40. */
export const REPUTATION = { min: -100, max: 100, valid: 2, invalid: -40 } as const;
/** From here on a volunteer is "reliable": 10 verified results and no invalid one, roughly. */
export const RELIABLE_REPUTATION = 20;
/** From here on a volunteer is "vouched for": at least one result verified by others. */
export const VOUCHED_REPUTATION = REPUTATION.valid;

/**
 * SQL for a reputation's trust tier: 2 reliable, 1 vouched for, 0 newcomer. The scheduler keeps
 * newcomers from replicating one another while someone of a higher tier is training.
 */
export function tierSql(reputation: string): string {
  return `(CASE WHEN ${reputation} >= ${RELIABLE_REPUTATION} THEN 2 WHEN ${reputation} >= ${VOUCHED_REPUTATION} THEN 1 ELSE 0 END)`;
}

export function tierOf(reputation: number): 0 | 1 | 2 {
  return reputation >= RELIABLE_REPUTATION ? 2 : reputation >= VOUCHED_REPUTATION ? 1 : 0;
}

/** Open leases a volunteer may hold (a tab, plus one being resumed after a reload)… */
export const MAX_OPEN_LEASES = 2;
/** …and after an invalid result, until its next replication-verified one. */
export const CUT_OPEN_LEASES = 1;
/**
 * Open leases one address may hold across all its keys (a household or a small office; a campus
 * behind one NAT is the cost): keys are free, addresses are not, so a hoarder's share of the work
 * grows only with the addresses it controls, and each lease must be heartbeated to stay held.
 */
export const MAX_OPEN_LEASES_PER_ADDRESS = 6;

/** Reissued replicas (after a disagreement or an audit) wait this long for a reliable volunteer. */
export const RELIABLE_FIRST_MS = 10 * 60_000;
/**
 * A replica slot whose live leases are all of the claimant's own kind (backend class, and browser
 * when both are known) waits this long for a different kind before anyone may take it: fresh
 * experiments go first meanwhile. A tiny experiment takes minutes, so this delays little.
 */
export const STEER_WAIT_MS = 2 * 60_000;

/** Share of trusted-single results that get a spot check (shared/commit.ts, trust/spot-checks.ts). */
export const SPOT_CHECK_RATE = 0.25;
/** A volunteer asked to reveal a committed checkpoint has this long before the check counts as failed. */
export const REVEAL_WINDOW_MS = 24 * 60 * 60_000;
/**
 * A lineage result's volunteer uploads its final checkpoint right after the result (the outbox
 * sends it next): the canonical choice waits this long for the preferred replica's before it takes
 * the next agreeing one's (edge/src/lineage/checkpoints.ts).
 */
export const FINAL_REVEAL_MS = 10 * 60_000;
/** Larger checkpoints are not revealed (a request body's limit); their results get checks from the seed. */
export const MAX_REVEAL_BYTES = 64 * 1024 * 1024;

/** BOINC's adaptive replication: always below CV_TRUSTED consecutive verified results, then 1/CV. */
export function replicationProbability(consecutiveValid: number): number {
  return consecutiveValid < CV_TRUSTED ? 1 : 1 / consecutiveValid;
}

/** `u` is a uniform draw in [0, 1) the volunteer cannot predict (shared/draw.ts). */
export function shouldReplicate(consecutiveValid: number, u: number): boolean {
  return u < replicationProbability(consecutiveValid);
}

export function addReputation(reputation: number, delta: number): number {
  return Math.max(REPUTATION.min, Math.min(REPUTATION.max, reputation + delta));
}
