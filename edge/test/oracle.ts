// What every response must satisfy, whatever was sent: a status below 500; a refusal as JSON with
// a snake_case code that the OpenAPI document lists for its route and a sentence; and no table
// changed by a refusal, except that the replay guard remembers a signature that verified (on the
// routes whose guard rides in their first batch, once that batch ran).
import { expect } from 'vitest';
import { ROUTES } from './routes.ts';
import { readRefusal } from './helpers.ts';
import {
  REPLAY_GUARD_TABLE,
  tableSnapshot,
  withoutReplayGuard,
  type Snapshot,
} from './snapshot.ts';

/** Refusals a signed route gives before the replay guard remembers anything (auth.ts, body.ts). */
const BEFORE_GUARD = new Set([
  'missing_signature',
  'unknown_volunteer',
  'stale_timestamp',
  'unsupported_media_type',
  'payload_too_large',
  'rate_limited',
  'replayed_request',
  'not_found',
]);
/** bad_signature is either the request's (before the guard) or a result's own (after it). */
const EITHER_SIDE = new Set(['bad_signature']);
/**
 * A result's checks against its spec come before its guarded batch when the spec is sent beside
 * it (one batch: routes/results.ts), after it when the spec is read with the lease.
 */
const EITHER_SIDE_ON: Record<string, Set<string>> = {
  'POST /api/results': new Set([
    'spec_mismatch',
    'budget_mismatch',
    'parent_mismatch',
    'commitment_mismatch',
  ]),
};
/**
 * Routes whose replay guard rides in their first D1 batch (auth.ts guardedBatch): these refusals
 * come before that batch, so nothing is remembered.
 */
const BEFORE_GUARDED_BATCH: Record<string, Set<string>> = {
  'POST /api/results': new Set(['invalid_json', 'invalid_request', 'bad_signature']),
  'POST /api/leases/{id}/heartbeat': new Set(['invalid_json', 'invalid_request']),
  'POST /api/leases': new Set([
    'invalid_json',
    'invalid_request',
    'uncalibrated_precision',
    'unknown_campaign',
    'unknown_partner',
  ]),
};

/** The documented route this request reaches (HEAD is served by GET routes), if any. */
function routeFor(method: string, pathname: string): (typeof ROUTES)[number] | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  return ROUTES.find(
    (r) =>
      r.method.toUpperCase() === m &&
      new RegExp(`^${r.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(pathname),
  );
}

/** The codes the OpenAPI document promises for this request; anything undocumented gets not_found. */
function documentedCodes(method: string, pathname: string): string[] {
  // rate_limited: the per-IP limit guards every route.
  return [...(routeFor(method, pathname)?.errors ?? ['not_found']), 'rate_limited'];
}

export interface Before {
  tables: Snapshot;
  guardRows: number;
}

/** The state to compare against: take it just before sending. */
export async function before(): Promise<Before> {
  const all = await tableSnapshot();
  return { tables: withoutReplayGuard(all), guardRows: all[REPLAY_GUARD_TABLE]!.rows };
}

/** Checks one response against every property; returns its refusal code, or null on success. */
export async function check(
  method: string,
  path: string,
  res: Response,
  was: Before,
): Promise<string | null> {
  expect(res.status).toBeLessThan(500);
  if (res.status >= 200 && res.status < 300) {
    await res.body?.cancel();
    return null;
  }
  const pathname = new URL(`http://localhost${path}`).pathname;
  let code: string;
  if (pathname === '/embed' && (method === 'GET' || method === 'HEAD')) {
    code = 'page'; // the widget's page refuses an unknown partner with an HTML page, by design
  } else if (method === 'HEAD') {
    expect(res.headers.get('content-type')).toMatch(/^application\/json\b/); // no body to read
    code = 'head';
  } else {
    code = (await readRefusal(res)).error;
    expect(documentedCodes(method, pathname)).toContain(code);
  }
  const all = await tableSnapshot();
  expect(withoutReplayGuard(all)).toEqual(was.tables);
  const remembered = all[REPLAY_GUARD_TABLE]!.rows - was.guardRows;
  const route = routeFor(method, pathname);
  const signed = route?.auth === 'volunteer';
  const guardedLater = route && BEFORE_GUARDED_BATCH[`${route.method.toUpperCase()} ${route.path}`];
  if (!signed || BEFORE_GUARD.has(code) || guardedLater?.has(code)) expect(remembered).toBe(0);
  else if (
    EITHER_SIDE.has(code) ||
    (route && EITHER_SIDE_ON[`${route.method.toUpperCase()} ${route.path}`]?.has(code))
  )
    expect(remembered).toBeLessThanOrEqual(1);
  else expect(remembered).toBe(1);
  return code;
}
