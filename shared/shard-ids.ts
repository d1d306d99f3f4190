// Which D1 shard minted an id (the design is edge/src/shards.ts): every id minted inside a shard
// k ≥ 1 carries k after its letter prefix (`c3_…`), shard 0's carry none. Pure, so the edge and the
// scripts that seed shards or read a campaign's ledger (scripts/lib/bench-state.ts,
// scripts/replay.ts) share the one rule.

/** Shard numbers run to 999: one digit 1–9, then at most two more. */
const TAGGED = /^[a-z]{1,2}([1-9]\d{0,2})_/;

/** The shard an id was minted in: the number after its letters, or 0 when it has none. */
export function shardOfId(id: string): number {
  const m = TAGGED.exec(id);
  return m ? Number(m[1]) : 0;
}

/** An id prefix for shard `k`: `prefix_` in shard 0, `prefix<k>_` in the others. */
export function shardPrefix(prefix: string, k: number): string {
  return k === 0 ? `${prefix}_` : `${prefix}${k}_`;
}
