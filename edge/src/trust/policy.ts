// The trust rules' numbers in one place: adaptive replication (BOINC), reputation, quotas, steering.
// Everything here is pure; the validator and the scheduler apply it to D1.

/** Results from distinct volunteers needed before a result may stand alone (BOINC's threshold). */
export const CV_TRUSTED = 10;
/** Replicas an experiment may get before it is declared disputed. */
export const MAX_REPLICAS = 5;

/** Reputation lives in −100..+100: a replication-verified result adds 2, an invalid one takes 40. */
export const REPUTATION = { min: -100, max: 100, valid: 2, invalid: -40 } as const;
/** From here on a volunteer is "reliable": 10 verified results and no invalid one, roughly. */
export const RELIABLE_REPUTATION = 20;

/** Open leases a volunteer may hold (a tab, plus one being resumed after a reload)… */
export const MAX_OPEN_LEASES = 2;
/** …and after an invalid result, until its next replication-verified one. */
export const CUT_OPEN_LEASES = 1;

/** Reissued replicas (after a disagreement or an audit) wait this long for a reliable volunteer. */
export const RELIABLE_FIRST_MS = 10 * 60_000;
/**
 * A replica slot whose live leases are all of the claimant's own kind (backend class, and browser
 * when both are known) waits this long for a different kind before anyone may take it: fresh
 * experiments go first meanwhile. A tiny experiment takes minutes, so this delays little.
 */
export const STEER_WAIT_MS = 2 * 60_000;

/** Share of trusted-single results that get a first-segment spot check (shared/commit.ts). */
export const SPOT_CHECK_RATE = 0.25;

/** BOINC's adaptive replication: always below CV_TRUSTED consecutive verified results, then 1/CV. */
export function replicationProbability(consecutiveValid: number): number {
  return consecutiveValid < CV_TRUSTED ? 1 : 1 / consecutiveValid;
}

/** `u` is a uniform draw in [0, 1) the volunteer cannot predict (trust/draw.ts). */
export function shouldReplicate(consecutiveValid: number, u: number): boolean {
  return u < replicationProbability(consecutiveValid);
}

export function addReputation(reputation: number, delta: number): number {
  return Math.max(REPUTATION.min, Math.min(REPUTATION.max, reputation + delta));
}
