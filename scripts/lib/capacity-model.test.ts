// The capacity model's arithmetic against a hand-computed case, its monotonicity in volunteers, the
// limit reached first moving where the arithmetic says, and `npm run capacity` end to end.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capacity, type EdgeCosts, type Scenario } from './capacity-model.ts';

const COSTS: EdgeCosts = {
  source: 'test',
  cpuMsPerRoundTrip: 20,
  d1CallsPerRoundTrip: 13,
  queueD1CallsPerLease: 2,
  rowsWrittenPerVerified: 40,
  resultsPerVerified: 2,
  d1BytesPerVerified: 20_000,
  rateLimiterCallsPerRoundTrip: 4,
  queueRpcsPerLease: 1,
  hubNotificationsPerResult: 1,
  ledgerRpcsPerVerified: 1,
  r2PutsPerResult: 0,
  r2BytesPerPut: 0,
  r2GetsPerLease: 0,
  heartbeat: { everySec: 30, cpuMs: 6, d1Calls: 4, rowsWritten: 3, rateLimiterCalls: 2 },
  registration: { newPerShard: 3, repeat: 2 },
};
const FLEET: Scenario = {
  volunteers: 600_000,
  minutes: 5,
  campaigns: 1,
  databases: 1,
  sessionMinutes: 0, // no registrations: the tests below them add them
  newPerDay: 0,
  volunteerLimit: { limit: 200, periodSec: 10 },
};
const load = (r: ReturnType<typeof capacity>, id: string) => {
  const c = r.components.find((x) => x.id === id);
  if (!c) throw new Error(`no component ${id}`);
  return c;
};

describe('capacity', () => {
  it('matches a hand-computed fleet', () => {
    const r = capacity(COSTS, FLEET);
    // 600,000 volunteers: one round trip per 300 s each = 2,000/s; a heartbeat per 30 s = 20,000/s.
    expect(r.roundTripsPerSec).toBeCloseTo(2000, 6);
    expect(r.heartbeatsPerSec).toBeCloseTo(20_000, 6);
    expect(r.requestsPerSec).toBeCloseTo(24_000, 6);
    // D1: 2,000 × (13 + 2) + 20,000 × 4 = 110,000 queries/s on one database; 1,000/s each → 110.
    expect(load(r, 'd1Queries').load).toBeCloseTo(110_000, 6);
    expect(load(r, 'd1Queries').use).toBeCloseTo(110, 6);
    // 1,000 / (110,000 / 600,000) = 5,454.5 volunteers.
    expect(load(r, 'd1Queries').saturatesAt).toBe(5454);
    // Rows: 1,000 verified/s × 40 + 20,000 × 3 = 100,000 rows/s.
    expect(load(r, 'd1RowsWritten').load).toBeCloseTo(100_000, 6);
    // CPU: 2,000 × 20 ms + 20,000 × 6 ms = 160 CPU-seconds a second, 6.67 ms a request.
    expect(load(r, 'workerCpu').load).toBeCloseTo(160, 6);
    expect(load(r, 'workerCpuPerRequest').load).toBeCloseTo(160_000 / 24_000, 6);
    // One queue RPC and one hub notification per round trip: 2,000/s; 1,000/s at 300,000.
    expect(load(r, 'queueObject').load).toBeCloseTo(2000, 6);
    expect(load(r, 'queueObject').saturatesAt).toBe(300_000);
    expect(load(r, 'hubObject').saturatesAt).toBe(300_000);
    // One ledger sequencer call per verified experiment: 1,000/s on the one database's object.
    expect(load(r, 'ledgerObject').load).toBeCloseTo(1000, 6);
    expect(load(r, 'ledgerObject').saturatesAt).toBe(600_000);
    // A volunteer: 2 requests / 300 s + 1 / 30 s = 0.04/s, 0.4 per 10 s window of 200.
    expect(load(r, 'volunteerLimit').load).toBeCloseTo(0.4, 9);
    expect(load(r, 'volunteerLimit').saturatesAt).toBeNull();
    expect(load(r, 'rateLimiter').load).toBeCloseTo(2000 * 4 + 20_000 * 2, 6);
    expect(r.first).toEqual({ id: 'd1Queries', name: 'D1 queries per database', volunteers: 5454 });
    expect(r.underEveryLimit).toBe(false);
    expect(r.needs).toEqual({ databases: 110, campaigns: 2 });
    // 1,000 verified/s × 20 kB × 86,400 s = 1.728 TB a day: 10 GB in 0.00579 days.
    expect(r.d1DaysToFull).toBeCloseTo(10e9 / 1.728e12, 9);
    expect(r.d1DaysToAccountLimit).toBeCloseTo(1e12 / 1.728e12, 9);
  });

  it('is under every limit once sharded as far as `needs` says', () => {
    const { needs } = capacity(COSTS, FLEET);
    const sharded = capacity(COSTS, { ...FLEET, ...needs });
    expect(sharded.underEveryLimit).toBe(true);
    const short = capacity(COSTS, { ...FLEET, ...needs, databases: needs.databases - 1 });
    expect(short.underEveryLimit).toBe(false);
  });

  it('never lowers a load when volunteers grow, and limits are reached at fixed counts', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000_000 }),
        fc.integer({ min: 1, max: 5_000_000 }),
        fc.double({ min: 0.5, max: 120, noNaN: true }),
        (a, b, minutes) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const rLo = capacity(COSTS, { ...FLEET, volunteers: lo, minutes });
          const rHi = capacity(COSTS, { ...FLEET, volunteers: hi, minutes });
          rLo.components.forEach((c, i) => {
            const h = rHi.components[i]!;
            expect(h.load).toBeGreaterThanOrEqual(c.load);
            expect(h.saturatesAt).toBe(c.saturatesAt);
          });
          expect(rHi.needs.databases).toBeGreaterThanOrEqual(rLo.needs.databases);
        },
      ),
    );
  });

  it('moves the first limit from D1 to the queue where the arithmetic says', () => {
    // No heartbeats, 10 D1 queries and 1 queue RPC per round trip of 300 s: D1 reaches 1,000/s at
    // 30,000 volunteers per database, the queue object at 300,000 per campaign.
    const costs = {
      ...COSTS,
      d1CallsPerRoundTrip: 8,
      heartbeat: { ...COSTS.heartbeat, everySec: 0 },
    };
    const first = (databases: number, campaigns: number) =>
      capacity(costs, { ...FLEET, databases, campaigns }).first;
    expect(first(9, 1)).toMatchObject({ id: 'd1Queries', volunteers: 270_000 });
    expect(first(11, 1)).toMatchObject({ id: 'queueObject', volunteers: 300_000 });
    expect(first(11, 2)).toMatchObject({ id: 'd1Queries', volunteers: 330_000 });
    expect(first(21, 2)).toMatchObject({ id: 'queueObject', volunteers: 600_000 });
  });

  it("counts a lineage campaign's checkpoints in R2", () => {
    const lineage = { ...COSTS, r2PutsPerResult: 1, r2BytesPerPut: 9.7e6, r2GetsPerLease: 1 };
    const r = capacity(lineage, FLEET);
    // 2,000 round trips/s: 2,000 PUTs of 9.7 MB (19,400 MB/s) and 2,000 GETs a second.
    expect(load(r, 'r2Puts').load).toBeCloseTo(2000, 6);
    expect(load(r, 'r2Bytes').load).toBeCloseTo(19_400, 6);
    expect(load(r, 'r2Gets').load).toBeCloseTo(2000, 6);
  });

  it('reports a per-request limit exceeded at any fleet size', () => {
    const r = capacity({ ...COSTS, d1CallsPerRoundTrip: 1200 }, { ...FLEET, volunteers: 1 });
    expect(r.first).toMatchObject({ id: 'd1QueriesPerInvocation', volunteers: 0 });
    expect(r.underEveryLimit).toBe(false);
    // More shards than an account may hold (50,000) is over a limit too.
    const shards = capacity(COSTS, { ...FLEET, volunteers: 1, databases: 50_001 });
    expect(shards.first).toMatchObject({ id: 'd1Databases', volunteers: 0 });
    // At 50,000 databases D1 reaches its query rate past 270 M volunteers: the queue comes first.
    expect(capacity(COSTS, { ...FLEET, volunteers: 1, databases: 50_000 }).first?.id).toBe(
      'queueObject',
    );
  });
});

describe('registrations across shards', () => {
  // 864,000 volunteers; 10 % new a day = 1/s, each written to every shard (3 calls); a session of
  // 60 min = 240 starts/s, each one read of the shard the volunteer's id hashes to.
  const costs = { ...COSTS, registration: { newPerShard: 3, repeat: 1 } };
  const fleet = { ...FLEET, volunteers: 864_000, newPerDay: 0.1, sessionMinutes: 60, databases: 4 };

  it('spreads repeated registrations over the shards, and puts new volunteers on every one', () => {
    const plain = capacity(costs, { ...fleet, newPerDay: 0, sessionMinutes: 0 });
    const sharded = load(plain, 'd1Queries').load;
    expect(load(capacity(costs, fleet), 'd1Queries').load).toBeCloseTo(sharded + 240 / 4 + 3, 6);
    // More shards divide the experiments' load and the repeats, never the new volunteers' rows.
    const more = capacity(costs, { ...fleet, databases: 8 });
    expect(load(more, 'd1Queries').load).toBeCloseTo(sharded / 2 + 240 / 8 + 3, 6);
  });

  it('needs the databases that leave room for new volunteers, and none when they alone fill one', () => {
    const { needs } = capacity(costs, fleet);
    expect(capacity(costs, { ...fleet, ...needs }).underEveryLimit).toBe(true);
    const short = capacity(costs, { ...fleet, ...needs, databases: needs.databases - 1 });
    expect(short.underEveryLimit).toBe(false);
    expect(short.first?.id).toBe('d1Queries');
    // 3 calls on every shard per new volunteer: 1,000 queries/s at 333.4 new volunteers a second.
    const flood = capacity(costs, { ...fleet, volunteers: 1_000_000, newPerDay: 28.81 });
    expect(flood.needs.databases).toBe(Infinity);
  });
});

describe('npm run capacity', () => {
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['scripts/capacity.ts', ...args]).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('prints the model as JSON from the default costs, or a bench:edge report over them', async () => {
    const { code, stdout } = await run(['--volunteers', '1000000', '--minutes', '5', '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(r.roundTripsPerSec).toBeCloseTo(1e6 / 300, 6);
    expect(r.first.volunteers).toBeGreaterThan(0);
    expect(r.costs.source).toMatch(/bench:edge/);

    const file = join(mkdtempSync(join(tmpdir(), 'capacity-')), 'edge.json');
    // A bench:edge report with half the default costs: the load it gives must be lower.
    const cpu = r.costs.cpuMsPerRoundTrip / 2;
    const calls = r.costs.d1CallsPerRoundTrip / 2;
    writeFileSync(
      file,
      JSON.stringify({ roundTrips: 800, cpuMsPerRoundTrip: cpu, d1CallsPerRoundTrip: calls }),
    );
    const over = await run([
      '--volunteers',
      '1000000',
      '--minutes',
      '5',
      '--costs',
      file,
      '--json',
    ]);
    const o = JSON.parse(over.stdout.trim().split('\n').at(-1)!);
    expect(o.costs.cpuMsPerRoundTrip).toBe(cpu);
    expect(o.costs.d1CallsPerRoundTrip).toBe(calls);
    expect(o.costs.source).toContain('(cpuMsPerRoundTrip, d1CallsPerRoundTrip)');
    const d1 = (x: { components: { id: string; load: number }[] }) =>
      x.components.find((c) => c.id === 'd1Queries')!.load;
    expect(d1(o)).toBeLessThan(d1(r));
  });

  it('refuses bad input with exit code 2 and a sentence', async () => {
    const bad = await run(['--volunteers', 'many', '--minutes', '5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--volunteers must be a positive integer/);
    const unknown = await run(['--volunteers', '10', '--minutes', '5', '--shards', '3']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--shards'\nusage: npm run capacity/);
    const file = join(mkdtempSync(join(tmpdir(), 'capacity-')), 'costs.json');
    writeFileSync(file, JSON.stringify({ cpuMsPerRoundTrip: -1 }));
    const neg = await run(['--volunteers', '10', '--minutes', '5', '--costs', file]);
    expect(neg.code).toBe(2);
    expect(neg.stderr).toMatch(/cpuMsPerRoundTrip must be a non-negative number/);
  });
});
