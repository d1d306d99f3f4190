// Cloudflare's published limits that bound Tabgrid's edge, as data for the capacity model
// (scripts/lib/capacity-model.ts), each with the page it comes from (read December 2026; the
// Workers Paid plan). docs/scale.md lists these and the ones that bound no load here (R2's one
// write a second per key, the rate limiter's periods, bound parameters) with the same links.

export interface PublishedLimit {
  value: number;
  unit: string;
  /** What Cloudflare says, in a few words, where the number needs a caveat. */
  note: string;
  source: string;
}

const WORKERS = 'https://developers.cloudflare.com/workers/platform/limits/';
const D1 = 'https://developers.cloudflare.com/d1/platform/limits/';
const DO = 'https://developers.cloudflare.com/durable-objects/platform/limits/';

export const LIMITS = {
  workerCpuMsPerRequest: {
    value: 30_000,
    unit: 'ms CPU per request',
    note: 'default; configurable to 5 min; Free plan 10 ms. Requests: no limit (Free: 100,000/day)',
    source: WORKERS,
  },
  d1QueriesPerInvocation: {
    value: 1000,
    unit: 'queries per Worker invocation',
    note: 'Free plan 50',
    source: D1,
  },
  // Not a hard limit: "each individual D1 database is inherently single-threaded, and processes
  // queries one at a time … if your average query takes 1 ms, you can run approximately 1,000
  // queries per second" (the limits page's FAQ). The local simulation agrees: about a thousand
  // small queries a second from one writer (docs/edge.md).
  d1QueriesPerSecPerDatabase: {
    value: 1000,
    unit: 'queries/s per database',
    note: 'single-threaded: ~1,000/s at 1 ms a query (FAQ), not a hard limit',
    source: D1,
  },
  d1BytesPerDatabase: {
    value: 10e9,
    unit: 'bytes per database',
    note: '10 GB, cannot be raised (Free 500 MB)',
    source: D1,
  },
  d1BytesPerAccount: {
    value: 1e12,
    unit: 'bytes per account',
    note: '1 TB, raised by request (Free 5 GB)',
    source: D1,
  },
  d1DatabasesPerAccount: {
    value: 50_000,
    unit: 'databases per account',
    note: 'raised by request (Free 10)',
    source: D1,
  },
  // "An individual Object has a soft limit of 1,000 requests per second"; past it the object
  // queues, then answers "overloaded" (the FAQ on the limits page).
  doRequestsPerSecPerObject: {
    value: 1000,
    unit: 'requests/s per object',
    note: 'soft limit; then queued, then "overloaded"',
    source: DO,
  },
} satisfies Record<string, PublishedLimit>;
