// Credit: an experiment's FLOPs, granted per verified result and revoked when overturned, with a
// recent-average credit (BOINC's RAC) of a 7-day half-life. Instead of BOINC's stored average and
// timestamp we keep Σ credit · 2^((t − epoch) / half-life): grants then add, a revocation
// subtracts exactly its grant's term, concurrent writers commute, and the average at any time is
// that sum decayed to now. For a steady rate of r FLOPs/day it converges to r, as RAC does.

export const RAC_HALF_LIFE_DAYS = 7;
const HALF_LIFE_MS = RAC_HALF_LIFE_DAYS * 86_400_000;
/** 2026-01-01: weights stay below 2^1000 (far below the double limit) for ~19 years from here. */
export const CREDIT_EPOCH_MS = Date.UTC(2026, 0, 1);

/** The term a grant of `flops` at time `at` adds to the decayed sum. */
export function decayedTerm(flops: number, at: number): number {
  return flops * 2 ** ((at - CREDIT_EPOCH_MS) / HALF_LIFE_MS);
}

/** Recent-average credit in FLOPs per day at `now`, from the decayed sum. */
export function recentAverageCredit(decayedSum: number, now: number): number {
  const v =
    (decayedSum * 2 ** (-(now - CREDIT_EPOCH_MS) / HALF_LIFE_MS) * Math.LN2) / RAC_HALF_LIFE_DAYS;
  return v > 0 ? v : 0; // rounding after a revocation may leave a hair below zero
}
