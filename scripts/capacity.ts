// `npm run capacity`: the capacity model (scripts/lib/capacity-model.ts) for a fleet — the load on
// each Cloudflare component at N volunteers next to the published limit, the first limit reached
// and at what volunteer count, and how many D1 databases and campaigns the fleet needs.
//
//   npm run capacity -- --volunteers 1000000 --minutes 5 [--campaigns 1] [--databases 1]
//                       [--costs FILE] [--json]
//     --volunteers N  concurrent volunteers, each training one experiment after another
//     --minutes M     minutes one experiment trains (one lease + result round trip per M minutes)
//     --campaigns C   campaigns the fleet spreads over: one queue and one hub object each (default 1)
//     --databases D   D1 databases the load spreads over, sharded (default 1: today's one database)
//     --heartbeat-s S seconds between a training browser's heartbeats (default: the costs file's)
//     --session-min S minutes a volunteer's session lasts; each start registers again, on shard 0
//                     (default 60)
//     --new-per-day F new volunteers a day as a share of the fleet, each written to every shard
//                     (default 0.063: Folding@home's 13× in six weeks of 2020 is 6.3 % a day)
//     --costs FILE    costs over the default scripts/data/edge-costs.json: a file of that shape,
//                     or the JSON line of `npm run bench:edge -- --json`
// With --json the table goes to stderr and stdout's last line is the report as one JSON object.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { capacity, type CapacityReport, type Scenario } from './lib/capacity-model.ts';
import { CostsError, mergeCosts, parseCosts } from './lib/edge-costs.ts';
import { ROOT } from './lib/wrangler.ts';

const DEFAULT_COSTS = join('scripts', 'data', 'edge-costs.json');

function usage(message: string): never {
  process.stderr.write(`capacity: ${message}\n`);
  process.exit(2);
}

function positive(name: string, v: string | undefined, integer: boolean): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n <= 0 || (integer && !Number.isSafeInteger(n)))
    usage(`--${name} must be a positive ${integer ? 'integer' : 'number'} (got ${v ?? 'nothing'})`);
  return n;
}

/** The per-volunteer limit as wrangler.toml configures it (the VOLUNTEER_LIMITER binding). */
function volunteerLimit(): Scenario['volunteerLimit'] {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const m = /name = "VOLUNTEER_LIMITER"[^[]*?limit = (\d+), period = (\d+)/.exec(toml);
  if (!m) throw new Error('wrangler.toml has no VOLUNTEER_LIMITER with a simple limit');
  return { limit: Number(m[1]), periodSec: Number(m[2]) };
}

/** 3 significant figures below 1,000, whole numbers with thousands separators above. */
const fmt = (x: number) =>
  Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : String(Number(x.toPrecision(3)));

/** Days as days, or as hours or minutes when shorter than two days or two hours. */
const span = (days: number) =>
  days >= 2
    ? `${fmt(days)} days`
    : days * 24 >= 2
      ? `${fmt(days * 24)} hours`
      : `${fmt(days * 1440)} minutes`;

function table(r: CapacityReport, costsSource: string): string {
  const s = r.scenario;
  const rows = r.components.map((c) => [
    c.name,
    `${fmt(c.load)} ${c.unit}`,
    c.limit ? `${fmt(c.limit.value)} ${c.limit.unit}` : 'none published',
    c.use === null ? '' : `${fmt(100 * c.use)} %`,
    c.saturatesAt === null ? '' : c.saturatesAt === 0 ? 'any count' : fmt(c.saturatesAt),
  ]);
  const head = ['component', `load at ${fmt(s.volunteers)}`, 'published limit', 'use', 'limit at'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [
    `Capacity: ${fmt(s.volunteers)} volunteers, ${fmt(s.minutes)}-minute experiments, ` +
      `${fmt(s.campaigns)} campaign(s), ${fmt(s.databases)} D1 database(s)`,
    `  ${fmt(r.roundTripsPerSec)} results/s (one lease + result each), ${fmt(r.heartbeatsPerSec)} heartbeats/s, ${fmt(r.requestsPerSec)} requests/s`,
    `  costs: ${costsSource}`,
    '',
    line(head),
    ...rows.map(line),
    '',
    r.first
      ? `First limit reached: ${r.first.name}, at ${fmt(r.first.volunteers)} volunteers.`
      : 'No published limit is reached at any volunteer count.',
    r.underEveryLimit
      ? `${fmt(s.volunteers)} volunteers stay under every published limit.`
      : `${fmt(s.volunteers)} volunteers exceed a limit: they need ${fmt(r.needs.databases)} D1 database(s) ` +
        `(≤ 1,000 queries/s each; wrangler.toml D1_SHARDS, edge/src/shards.ts) and ${fmt(r.needs.campaigns)} campaign(s) (≤ 1,000 requests/s per object); docs/scale.md "Sharding".`,
  ];
  if (r.d1DaysToFull !== null && r.d1DaysToAccountLimit !== null)
    out.push(
      `Storage: each of the ${fmt(s.databases)} database(s) fills its 10 GB in ${span(r.d1DaysToFull)}, ` +
        `and together they reach the account's 1 TB in ${span(r.d1DaysToAccountLimit)}, unless cold records leave D1.`,
    );
  return out.join('\n') + '\n';
}

const USAGE =
  'usage: npm run capacity -- --volunteers N --minutes M [--campaigns C] [--databases D] ' +
  '[--heartbeat-s S] [--session-min S] [--new-per-day F] [--costs FILE] [--json]';
const OPTIONS = {
  volunteers: { type: 'string' },
  minutes: { type: 'string' },
  campaigns: { type: 'string', default: '1' },
  databases: { type: 'string', default: '1' },
  'session-min': { type: 'string', default: '60' },
  'new-per-day': { type: 'string', default: '0.063' },
  costs: { type: 'string' },
  'heartbeat-s': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

let parsed;
try {
  parsed = parseArgs({ options: OPTIONS });
} catch (err) {
  usage(`${(err as Error).message}\n${USAGE}`);
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}

let costs;
try {
  costs = parseCosts(readFileSync(join(ROOT, DEFAULT_COSTS), 'utf8'), DEFAULT_COSTS);
  if (values.costs) {
    let text: string;
    try {
      text = readFileSync(values.costs, 'utf8');
    } catch (err) {
      usage(`cannot read --costs ${values.costs}: ${(err as Error).message}`);
    }
    costs = mergeCosts(costs, text, values.costs);
  }
} catch (err) {
  if (err instanceof CostsError) usage(err.message);
  throw err;
}
if (values['heartbeat-s'] !== undefined) {
  const everySec = positive('heartbeat-s', values['heartbeat-s'], false);
  costs = { ...costs, heartbeat: { ...costs.heartbeat, everySec } };
  costs.source += `; heartbeats every ${everySec} s`;
}
const report = capacity(costs, {
  volunteers: positive('volunteers', values.volunteers, true),
  minutes: positive('minutes', values.minutes, false),
  campaigns: positive('campaigns', values.campaigns, true),
  databases: positive('databases', values.databases, true),
  sessionMinutes: positive('session-min', values['session-min'], false),
  newPerDay: positive('new-per-day', values['new-per-day'], false),
  volunteerLimit: volunteerLimit(),
});
(values.json ? process.stderr : process.stdout).write(table(report, costs.source));
if (values.json) process.stdout.write(JSON.stringify({ ...report, costs }) + '\n');
