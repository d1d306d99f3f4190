// The capacity model behind `npm run capacity`: from measured per-request costs of the edge and a
// fleet (volunteers, minutes per experiment, campaigns, D1 databases), the load on each Cloudflare
// component next to its published limit, the volunteer count at which each limit is reached, and
// how many databases and campaign objects a fleet needs. Pure arithmetic; docs/scale.md explains it.
import { LIMITS, type PublishedLimit } from './cloudflare-limits.ts';

/** What one heartbeat costs, and how often a training browser sends one. */
export interface HeartbeatCosts {
  everySec: number;
  cpuMs: number;
  d1Calls: number;
  rowsWritten: number;
  rateLimiterCalls: number;
}

/** Per-request costs of the edge (scripts/data/edge-costs.json documents each figure's source). */
export interface EdgeCosts {
  source: string;
  /** workerd CPU per lease + result round trip, ms. */
  cpuMsPerRoundTrip: number;
  /** D1 calls the Worker makes per round trip (a batch counts once). */
  d1CallsPerRoundTrip: number;
  /** D1 calls the campaign queue object makes per lease (its claim cycle's batches). */
  queueD1CallsPerLease: number;
  rowsWrittenPerVerified: number;
  /** Results (round trips) per verified experiment. */
  resultsPerVerified: number;
  /** D1 bytes a verified experiment leaves behind, with its results, leases and ledger entries. */
  d1BytesPerVerified: number;
  rateLimiterCallsPerRoundTrip: number;
  queueRpcsPerLease: number;
  hubNotificationsPerResult: number;
  /** Calls to the ledger sequencer (one object per database) per verified experiment: its verdict's. */
  ledgerRpcsPerVerified: number;
  r2PutsPerResult: number;
  r2BytesPerPut: number;
  /** R2 reads (class B) per lease: a lineage segment starts from its parent's checkpoint. */
  r2GetsPerLease: number;
  heartbeat: HeartbeatCosts;
  /**
   * D1 calls of a registration (edge/src/routes/volunteers.ts): a new volunteer's row is written to
   * every shard (`newPerShard` calls in each); a repeated one (each start of the web app) is one
   * read (`repeat`) of the shard the volunteer's id hashes to, so repeats spread over the shards.
   */
  registration: { newPerShard: number; repeat: number };
}

export interface Scenario {
  volunteers: number;
  /** Minutes one experiment trains: each volunteer makes one lease + result round trip per this. */
  minutes: number;
  /** Campaigns the fleet spreads over evenly: one queue and one hub object each. */
  campaigns: number;
  /** D1 databases the load spreads over evenly (sharded by campaign or volunteer id). */
  databases: number;
  /** Minutes a volunteer's session lasts: each start of the web app registers again. */
  sessionMinutes: number;
  /** New volunteers a day, as a share of the fleet (each is written to every shard). */
  newPerDay: number;
  /** The per-volunteer rate limit (wrangler.toml's VOLUNTEER_LIMITER). */
  volunteerLimit: { limit: number; periodSec: number };
}

export interface ComponentLoad {
  id: string;
  name: string;
  load: number;
  unit: string;
  /** The published limit, or null where Cloudflare publishes none for this load. */
  limit: PublishedLimit | null;
  /** load ÷ limit, or null. */
  use: number | null;
  /** Volunteers at which the load reaches the limit (0: exceeded at any count; null: never). */
  saturatesAt: number | null;
}

export interface CapacityReport {
  scenario: Scenario;
  roundTripsPerSec: number;
  heartbeatsPerSec: number;
  requestsPerSec: number;
  components: ComponentLoad[];
  first: { id: string; name: string; volunteers: number } | null;
  underEveryLimit: boolean;
  /**
   * Databases (each with its ledger sequencer) and campaigns (queue + hub objects) this fleet needs;
   * databases: Infinity when new volunteers' rows alone fill a database.
   */
  needs: { databases: number; campaigns: number };
  /** Days until one database holds 10 GB at this rate (null when nothing is verified). */
  d1DaysToFull: number | null;
  /** Days until all databases together hold the account's 1 TB (null when nothing is verified). */
  d1DaysToAccountLimit: number | null;
}

/** A component whose load is `perVolunteer × volunteers`, or `fixed` whatever the fleet's size. */
type Spec = { id: string; name: string; unit: string; limit: PublishedLimit | null } & (
  { perVolunteer: number } | { fixed: number }
);

/** x to 12 significant digits, so 600,000 × (1 / 300) is 2,000 before floor or ceil, not 2,000.0000000000002. */
const snap = (x: number) => Number(x.toPrecision(12));

/** Loads, limits and the volunteer counts where each limit is reached. */
export function capacity(costs: EdgeCosts, s: Scenario): CapacityReport {
  const hb = costs.heartbeat;
  // Per volunteer: one round trip per experiment, one heartbeat every hb.everySec while training.
  const rt = 1 / (s.minutes * 60);
  const beats = hb.everySec > 0 ? 1 / hb.everySec : 0;
  const requests = 2 * rt + beats;
  // The registrations each start repeats spread over the shards like the rest; the rows of new
  // volunteers go to every shard whatever their number.
  const starts = s.sessionMinutes > 0 ? 1 / (s.sessionMinutes * 60) : 0;
  const everyShard = (s.newPerDay / 86_400) * costs.registration.newPerShard;
  const d1 =
    rt * (costs.d1CallsPerRoundTrip + costs.queueD1CallsPerLease) +
    beats * hb.d1Calls +
    starts * costs.registration.repeat;
  const queue = rt * costs.queueRpcsPerLease;
  const hub = rt * costs.hubNotificationsPerResult;
  const ledger = (rt / costs.resultsPerVerified) * costs.ledgerRpcsPerVerified;
  const specs: Spec[] = [
    {
      id: 'workerCpu',
      name: 'Worker CPU, all requests',
      unit: 'CPU-s/s',
      limit: null,
      perVolunteer: (rt * costs.cpuMsPerRoundTrip + beats * hb.cpuMs) / 1000,
    },
    {
      id: 'workerCpuPerRequest',
      name: 'Worker CPU per request (mean)',
      unit: 'ms',
      limit: LIMITS.workerCpuMsPerRequest,
      fixed: (rt * costs.cpuMsPerRoundTrip + beats * hb.cpuMs) / requests,
    },
    { id: 'requests', name: 'Worker requests', unit: 'req/s', limit: null, perVolunteer: requests },
    {
      id: 'd1Queries',
      name: 'D1 queries per database',
      unit: 'queries/s',
      limit: LIMITS.d1QueriesPerSecPerDatabase,
      perVolunteer: d1 / s.databases + everyShard,
    },
    {
      id: 'd1RowsWritten',
      name: 'D1 rows written per database',
      unit: 'rows/s',
      limit: null,
      perVolunteer:
        ((rt / costs.resultsPerVerified) * costs.rowsWrittenPerVerified + beats * hb.rowsWritten) /
        s.databases,
    },
    {
      id: 'd1QueriesPerInvocation',
      name: 'D1 queries per request (at most)',
      unit: 'queries',
      limit: LIMITS.d1QueriesPerInvocation,
      fixed: costs.d1CallsPerRoundTrip,
    },
    {
      id: 'd1Databases',
      name: 'D1 databases',
      unit: 'databases',
      limit: LIMITS.d1DatabasesPerAccount,
      fixed: s.databases,
    },
    {
      id: 'queueObject',
      name: 'Campaign queue DO per object',
      unit: 'req/s',
      limit: LIMITS.doRequestsPerSecPerObject,
      perVolunteer: queue / s.campaigns,
    },
    {
      id: 'hubObject',
      name: 'Campaign hub DO per object',
      unit: 'req/s',
      limit: LIMITS.doRequestsPerSecPerObject,
      perVolunteer: hub / s.campaigns,
    },
    {
      id: 'ledgerObject',
      name: 'Ledger sequencer DO (one per database)',
      unit: 'req/s',
      limit: LIMITS.doRequestsPerSecPerObject,
      perVolunteer: ledger / s.databases,
    },
    {
      id: 'r2Puts',
      name: 'R2 class A (checkpoint PUTs)',
      unit: 'ops/s',
      limit: null,
      perVolunteer: rt * costs.r2PutsPerResult,
    },
    {
      id: 'r2Gets',
      name: 'R2 class B (checkpoint GETs)',
      unit: 'ops/s',
      limit: null,
      perVolunteer: rt * costs.r2GetsPerLease,
    },
    {
      id: 'r2Bytes',
      name: 'R2 bytes written',
      unit: 'MB/s',
      limit: null,
      perVolunteer: (rt * costs.r2PutsPerResult * costs.r2BytesPerPut) / 1e6,
    },
    {
      id: 'rateLimiter',
      name: 'Rate limiter calls',
      unit: 'calls/s',
      limit: null,
      perVolunteer: rt * costs.rateLimiterCallsPerRoundTrip + beats * hb.rateLimiterCalls,
    },
    {
      id: 'volunteerLimit',
      name: `Requests per volunteer per ${s.volunteerLimit.periodSec} s`,
      unit: 'requests',
      limit: {
        value: s.volunteerLimit.limit,
        unit: `requests per ${s.volunteerLimit.periodSec} s`,
        note: 'VOLUNTEER_LIMITER in wrangler.toml',
        source: 'wrangler.toml',
      },
      fixed: requests * s.volunteerLimit.periodSec,
    },
  ];
  const components = specs.map((c): ComponentLoad => {
    const load = 'fixed' in c ? c.fixed : c.perVolunteer * s.volunteers;
    const limit = c.limit?.value ?? null;
    let saturatesAt: number | null = null;
    if (limit !== null) {
      if ('fixed' in c) saturatesAt = c.fixed > limit ? 0 : null;
      else if (c.perVolunteer > 0) saturatesAt = Math.floor(snap(limit / c.perVolunteer));
    }
    const { id, name, unit } = c;
    return { id, name, load, unit, limit: c.limit, use: limit ? load / limit : null, saturatesAt };
  });
  const first = components
    .filter((c) => c.saturatesAt !== null)
    .reduce<ComponentLoad | null>((a, c) => (!a || c.saturatesAt! < a.saturatesAt! ? c : a), null);
  const verifiedPerSec = (s.volunteers * rt) / costs.resultsPerVerified;
  const spare = LIMITS.d1QueriesPerSecPerDatabase.value - s.volunteers * everyShard;
  const bytesPerDay = verifiedPerSec * costs.d1BytesPerVerified * 86_400;
  const perDbBytesPerDay = bytesPerDay / s.databases;
  return {
    scenario: s,
    roundTripsPerSec: s.volunteers * rt,
    heartbeatsPerSec: s.volunteers * beats,
    requestsPerSec: s.volunteers * requests,
    components,
    first: first && { id: first.id, name: first.name, volunteers: first.saturatesAt! },
    underEveryLimit: components.every((c) => c.use === null || snap(c.use) <= 1),
    needs: {
      databases: Math.ceil(
        snap(
          Math.max(
            // The sharded load fits in what each database has left after what every shard
            // carries whatever their number: D ≥ N·d1 / (L − N·everyShard).
            spare > 0 ? (s.volunteers * d1) / spare : Infinity,
            (s.volunteers * ledger) / LIMITS.doRequestsPerSecPerObject.value, // a sequencer each
          ),
        ),
      ),
      campaigns: Math.ceil(
        snap((s.volunteers * Math.max(queue, hub)) / LIMITS.doRequestsPerSecPerObject.value),
      ),
    },
    d1DaysToFull: perDbBytesPerDay > 0 ? LIMITS.d1BytesPerDatabase.value / perDbBytesPerDay : null,
    d1DaysToAccountLimit: bytesPerDay > 0 ? LIMITS.d1BytesPerAccount.value / bytesPerDay : null,
  };
}
