// Which cached dataset files to drop when the browser's storage is tight: the least recently used
// first, until the file about to be stored fits under the quota with some room to spare. Pure, so
// the rule is tested on its own; dataset-cache.ts applies it with navigator.storage.estimate().

/** A dataset file in the IndexedDB cache: its SHA-256, its size and when a run last loaded it. */
export interface CachedFile {
  sha256: string;
  bytes: number;
  lastUsed: number;
}

/**
 * Keep this share of the quota free: the origin's other stores (checkpoints, the outbox) grow
 * while a run trains, and browsers evict a whole origin that hits its quota (MDN, "Storage quotas
 * and eviction criteria").
 */
export const QUOTA_RESERVE = 0.1;

/**
 * The files to delete, least recently used first, so that `incoming` more bytes fit in
 * quota × (1 − QUOTA_RESERVE) given `usage`; never one named in `keep` (the dataset being loaded).
 * Deletes nothing when the file fits already, and everything it may when even that is not enough.
 */
export function evictionPlan(
  files: CachedFile[],
  estimate: { usage: number; quota: number },
  incoming: number,
  keep: ReadonlySet<string> = new Set(),
): string[] {
  const limit = estimate.quota * (1 - QUOTA_RESERVE);
  let usage = estimate.usage;
  const out: string[] = [];
  const byAge = files
    .filter((f) => !keep.has(f.sha256))
    .sort((a, b) => a.lastUsed - b.lastUsed || a.sha256.localeCompare(b.sha256));
  for (const f of byAge) {
    if (usage + incoming <= limit) break;
    out.push(f.sha256);
    usage -= f.bytes;
  }
  return out;
}
