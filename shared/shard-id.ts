// Which D1 shard an id was minted in (edge/src/shards.ts; docs/scale.md "Sharding"): ids minted in
// shard k ≥ 1 carry k right after their letters (`c3_…`, `l3_…`), shard 0's carry none. Shared so
// that clients reading a campaign's ledger (scripts/replay.ts) ask the shard that holds it.

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
