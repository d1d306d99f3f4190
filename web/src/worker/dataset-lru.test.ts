import { describe, expect, it } from 'vitest';
import { evictionPlan, QUOTA_RESERVE, type CachedFile } from './dataset-lru.ts';

const MB = 1_000_000;
const files: CachedFile[] = [
  { sha256: 'b', bytes: 30 * MB, lastUsed: 200 },
  { sha256: 'a', bytes: 20 * MB, lastUsed: 100 },
  { sha256: 'c', bytes: 10 * MB, lastUsed: 300 },
];

describe('evictionPlan', () => {
  it('drops nothing while the new file fits under the quota less its reserve', () => {
    const quota = 100 * MB;
    const room = quota * (1 - QUOTA_RESERVE) - 60 * MB;
    expect(evictionPlan(files, { usage: 60 * MB, quota }, room)).toEqual([]);
    expect(evictionPlan(files, { usage: 60 * MB, quota }, room + 1)).toEqual(['a']);
  });

  it('drops the least recently used first, only as many as needed', () => {
    const estimate = { usage: 60 * MB, quota: 100 * MB }; // 90 MB usable
    expect(evictionPlan(files, estimate, 55 * MB)).toEqual(['a', 'b']);
    expect(evictionPlan(files, estimate, 31 * MB)).toEqual(['a']);
  });

  it('never drops the dataset being loaded, and drops all it may when that is not enough', () => {
    const estimate = { usage: 60 * MB, quota: 100 * MB };
    expect(evictionPlan(files, estimate, 55 * MB, new Set(['a']))).toEqual(['b']);
    expect(evictionPlan(files, estimate, 65 * MB, new Set(['a']))).toEqual(['b', 'c']);
    expect(evictionPlan(files, estimate, 500 * MB, new Set(['c']))).toEqual(['a', 'b']);
  });
});
