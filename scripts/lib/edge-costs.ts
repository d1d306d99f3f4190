// Reads the capacity model's per-request costs: the default file scripts/data/edge-costs.json, and
// over it a file given with --costs, which may be a costs file of the same shape or the JSON line
// `npm run bench:edge -- --json` prints (only its cpuMsPerRoundTrip, d1CallsPerRoundTrip and
// rowsWrittenPerVerified are costs; its other fields are ignored).
import type { EdgeCosts, HeartbeatCosts } from './capacity-model.ts';

const COST_FIELDS = [
  'cpuMsPerRoundTrip',
  'd1CallsPerRoundTrip',
  'queueD1CallsPerLease',
  'rowsWrittenPerVerified',
  'resultsPerVerified',
  'd1BytesPerVerified',
  'rateLimiterCallsPerRoundTrip',
  'queueRpcsPerLease',
  'hubNotificationsPerResult',
  'ledgerRpcsPerVerified',
  'r2PutsPerResult',
  'r2BytesPerPut',
  'r2GetsPerLease',
] as const satisfies readonly (keyof EdgeCosts)[];

const HEARTBEAT_FIELDS = [
  'everySec',
  'cpuMs',
  'd1Calls',
  'rowsWritten',
  'rateLimiterCalls',
] as const satisfies readonly (keyof HeartbeatCosts)[];

const REGISTRATION_FIELDS = [
  'newPerShard',
  'repeat',
] as const satisfies readonly (keyof EdgeCosts['registration'])[];

/** The nested groups of costs: `group.field` in messages. */
const GROUPS = { heartbeat: HEARTBEAT_FIELDS, registration: REGISTRATION_FIELDS } as const;

/** Where a costs file cannot be used: the message names the file and the field. */
export class CostsError extends Error {}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

function figure(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new CostsError(`${where} must be a non-negative number (got ${JSON.stringify(value)}).`);
  return value;
}

const ALL = [
  ...COST_FIELDS,
  ...Object.entries(GROUPS).flatMap(([g, fields]) => fields.map((k) => `${g}.${k}`)),
];

/**
 * `base` with every cost `text` (a JSON object, from `file`) gives replacing it. Throws CostsError
 * when the text is not a JSON object, a cost is not a non-negative number, resultsPerVerified is 0
 * (a divisor; heartbeat.everySec 0 turns heartbeats off), or no cost is found.
 */
export function mergeCosts(base: EdgeCosts, text: string, file: string): EdgeCosts {
  return merge(base, text, file).costs;
}

/** A complete costs file (the default one): every cost must be there. */
export function parseCosts(text: string, file: string): EdgeCosts {
  const zero = Object.fromEntries(COST_FIELDS.map((k) => [k, 0]));
  const groups = Object.fromEntries(
    Object.entries(GROUPS).map(([g, fields]) => [g, Object.fromEntries(fields.map((k) => [k, 0]))]),
  );
  const base = { ...zero, ...groups, source: '' } as unknown as EdgeCosts;
  const { costs, taken } = merge(base, text, file);
  const missing = ALL.filter((k) => !taken.includes(k));
  if (missing.length) throw new CostsError(`${file} lacks ${missing.join(', ')}.`);
  return costs;
}

function merge(base: EdgeCosts, text: string, file: string) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CostsError(`${file} is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(parsed)) throw new CostsError(`${file} must hold one JSON object.`);
  const costs: EdgeCosts = {
    ...base,
    heartbeat: { ...base.heartbeat },
    registration: { ...base.registration },
  };
  const taken: string[] = [];
  for (const k of COST_FIELDS) {
    if (parsed[k] === undefined) continue;
    costs[k] = figure(parsed[k], `${file}: ${k}`);
    taken.push(k);
  }
  for (const [g, fields] of Object.entries(GROUPS) as [keyof typeof GROUPS, readonly string[]][]) {
    const given = parsed[g];
    if (given === undefined) continue;
    if (!isRecord(given)) throw new CostsError(`${file}: ${g} must be an object.`);
    const into = costs[g] as unknown as Record<string, number>;
    for (const k of fields) {
      if (given[k] === undefined) continue;
      into[k] = figure(given[k], `${file}: ${g}.${k}`);
      taken.push(`${g}.${k}`);
    }
  }
  if (!taken.length) throw new CostsError(`${file} holds none of the costs (${ALL.join(', ')}).`);
  if (costs.resultsPerVerified === 0 && taken.includes('resultsPerVerified'))
    throw new CostsError(`${file}: resultsPerVerified must be above 0.`);
  costs.source =
    typeof parsed.source === 'string' && taken.length === ALL.length
      ? parsed.source
      : `${file} (${taken.join(', ')}) over ${base.source}`;
  return { costs, taken };
}
