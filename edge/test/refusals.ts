// What the hostile-client tests share: a refusal that changes no table, and a signed request
// whose headers or body a test may then tamper with.
import { expect } from 'vitest';
import { readRefusal, signedHeaders, type TestVolunteer } from './helpers.ts';
import { REPLAY_GUARD_TABLE, tableSnapshot, withoutReplayGuard } from './snapshot.ts';

/**
 * Sends once and checks the refusal. `guard` says what the replay guard may do: refusals before
 * the signature verified leave it untouched; a verified request is remembered once (auth.ts).
 */
export async function expectRefused(
  send: () => Promise<Response>,
  status: number,
  code: string,
  guard: 'untouched' | 'remembers' = 'untouched',
): Promise<void> {
  const before = await tableSnapshot();
  const res = await send();
  expect(res.status).toBe(status);
  expect((await readRefusal(res)).error).toBe(code);
  const after = await tableSnapshot();
  expect(withoutReplayGuard(after)).toEqual(withoutReplayGuard(before));
  const remembered = after[REPLAY_GUARD_TABLE]!.rows - before[REPLAY_GUARD_TABLE]!.rows;
  expect(remembered).toBe(guard === 'untouched' ? 0 : 1);
}

/** A signed POST whose headers the caller may then tamper with. */
export async function signedInit(
  v: TestVolunteer,
  path: string,
  body: string,
  contentType = 'application/json',
): Promise<{ method: string; headers: Record<string, string>; body: string }> {
  return {
    method: 'POST',
    headers: {
      'content-type': contentType,
      ...(await signedHeaders(v.id, v.keys, 'POST', path, body)),
    },
    body,
  };
}
