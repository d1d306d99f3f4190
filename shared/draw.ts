// The edge's secret draws (adaptive replication, spot checks): a uniform number in [0, 1) from a
// key and a purpose. Shared, so that tests and audits that hold the key recompute exactly what the
// edge drew; volunteers never see the key.
import { sha256 } from './crypto.ts';

export async function draw(key: string, purpose: string): Promise<number> {
  const h = await sha256(`draw:${key}:${purpose}`);
  return parseInt(h.slice(0, 13), 16) / 2 ** 52;
}

/** Tests: a draw key under which these draws come out as wanted (the first of `test-key-0…`). */
export async function findDrawKey(wants: [string, (u: number) => boolean][]): Promise<string> {
  for (let i = 0; i < 10_000; i++) {
    const key = `test-key-${i}`;
    let ok = true;
    for (const [purpose, want] of wants) ok &&= want(await draw(key, purpose));
    if (ok) return key;
  }
  throw new Error('no draw key satisfies these draws');
}
