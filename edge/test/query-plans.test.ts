// Every statement the volunteer loop sends to D1 is backed by an index: the loop (register, lease,
// heartbeat, two results that verify, a third volunteer's lease and result, the volunteer's own
// standing) runs through the real app and D1 with the binding tapped, and each distinct statement,
// with the parameters it ran with, is explained by SQLite (EXPLAIN QUERY PLAN). A full scan of a
// table that grows with use (a plan step "SCAN <table>", with or without a covering index) fails
// the test, so a latency that grows with the data (bench:edge --preload) cannot come back unseen.
import { env } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TAU_BPB } from '../../shared/verify.ts';
import { tapD1, type TappedStatement } from '../bench/d1-tap.ts';
import { api, honestMetrics, newVolunteer, seedCampaign } from './helpers.ts';

/** Tables whose rows grow with volunteers, experiments and results. */
const GROWING = [
  'campaigns',
  'experiments',
  'leases',
  'results',
  'volunteers',
  'volunteer_keys',
  'volunteer_classes',
  'witnesses',
  'ledger',
  'seen_requests',
  'spot_checks',
  'final_checkpoints',
  'queue_changes',
];

const ran = new Map<string, TappedStatement>();
/** Rows each statement read, by its SQL (the largest seen). */
const rowsRead = new Map<string, number>();
const original = env.DB;

beforeEach(() => {
  ran.clear();
  rowsRead.clear();
  (env as { DB: D1Database }).DB = tapD1(original, ({ statements, metas }) => {
    statements.forEach((s, i) => {
      ran.set(`${s.sql}\u0000${JSON.stringify(s.params)}`, s);
      rowsRead.set(s.sql, Math.max(rowsRead.get(s.sql) ?? 0, metas[i]?.rows_read ?? 0));
    });
  });
});
afterEach(() => {
  (env as { DB: D1Database }).DB = original;
});

/** SQLite's plan for a statement: one line per step ("SEARCH leases USING INDEX …", "SCAN results"). */
async function plan(s: TappedStatement): Promise<string[]> {
  const { results } = await original
    .prepare(`EXPLAIN QUERY PLAN ${s.sql}`)
    .bind(...s.params)
    .all<{ detail: string }>();
  return results.map((r) => r.detail);
}

/** The plan steps that read a growing table whole. */
function fullScans(steps: string[]): string[] {
  return steps.filter((d) => {
    const m = /^SCAN (\w+)/.exec(d);
    return m !== null && GROWING.includes(m[1]!);
  });
}

describe('query plans of the volunteer loop', () => {
  it('finds a full scan when there is one (the check itself)', async () => {
    expect(
      fullScans(await plan({ sql: 'SELECT count(*) FROM results WHERE val_bpb > ?', params: [1] })),
    ).toEqual([expect.stringMatching(/^SCAN results/)]);
    expect(
      fullScans(
        await plan({ sql: 'SELECT * FROM results WHERE experiment_id = ?', params: ['x'] }),
      ),
    ).toEqual([]);
  });

  it('reads no growing table whole on the way from registration to a verified result', async () => {
    await seedCampaign('c1', 1);
    await seedCampaign('c2', 1);
    const [a, b, c] = [await newVolunteer(), await newVolunteer(), await newVolunteer()];
    const [la, lb] = [(await a.lease('webgpu'))!, (await b.lease('wasm'))!];
    expect((await a.result(la, honestMetrics(la.spec, 3.0, 'webgpu'))).status).toBe(201);
    const second = await b.result(lb, honestMetrics(lb.spec, 3.0 + TAU_BPB / 2, 'wasm'));
    expect(await second.json()).toMatchObject({ experimentStatus: 'verified' });
    const lc = (await c.lease('wasm', 'c2'))!;
    const beat = await c.post(`/api/leases/${lc.leaseId}/heartbeat`, {
      leaseToken: lc.leaseToken,
      step: 1,
      loss: 3.2,
    });
    expect(beat.status).toBe(200);
    expect((await c.result(lc, honestMetrics(lc.spec, 3.1))).status).toBe(201);
    expect((await api(`/api/volunteers/${a.id}`)).status).toBe(200);

    expect(ran.size).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const s of ran.values()) {
      if (!/^\s*(SELECT|UPDATE|DELETE|INSERT|WITH)/i.test(s.sql)) continue;
      const scans = fullScans(await plan(s));
      if (scans.length) offenders.push(`${scans.join(', ')}  ←  ${s.sql.replace(/\s+/g, ' ')}`);
    }
    expect(offenders).toEqual([]);
  });

  it('registers a volunteer without reading the open experiments of the campaign queues', async () => {
    // The queue's change trigger runs on a first registration address (migration 0014): it must start
    // from the volunteer's own leases, not from every open experiment.
    await seedCampaign('big', 300);
    const first = await newVolunteer('first', { 'cf-connecting-ip': '198.51.100.7' });
    expect(await first.lease('wasm', 'big')).not.toBeNull(); // the campaign's queue is a consumer now
    await newVolunteer('second', { 'cf-connecting-ip': '198.51.100.8' });
    const sql = [...rowsRead.keys()].find((q) => q.startsWith('UPDATE volunteers SET ip_hash'));
    expect(sql).toBeDefined();
    expect(rowsRead.get(sql!)).toBeLessThan(20);
  });
});
