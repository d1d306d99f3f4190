// Delivering signed results exactly once: each result is written to IndexedDB before it is sent
// and deleted only once the edge has answered for it. The edge makes submission idempotent per
// lease (a second delivery returns the first outcome), so a retry after a lost answer is safe.
import type { ResultRequest, ResultResponse } from '../../../shared/protocol.ts';
import { EdgeError, postSigned } from './api.ts';
import { openStore, type OutboxEntry, type StoredIdentity } from './db.ts';

export type Delivery =
  | { entry: OutboxEntry; delivered: true; response: ResultResponse }
  | { entry: OutboxEntry; delivered: false; refused: string }; // the edge will never take it

export async function enqueue(leaseId: string, experimentId: string, request: ResultRequest): Promise<void> {
  const entry: OutboxEntry = { leaseId, experimentId, request, createdAt: Date.now() };
  await (await openStore()).put('outbox', entry, leaseId);
}

export async function pendingCount(): Promise<number> {
  return (await openStore()).count('outbox');
}

/** A refusal that no retry can change (4xx but throttling or timeouts). */
function isFinal(err: unknown): err is EdgeError {
  return err instanceof EdgeError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
}

let flushing: Promise<Delivery[]> | undefined;

/**
 * Sends every pending result, oldest first. Network errors and 5xx leave the entry for the next
 * flush; an answer (accepted, duplicate or finally refused) removes it. One flush at a time.
 */
export function flushOutbox(identity: StoredIdentity): Promise<Delivery[]> {
  flushing ??= (async () => {
    const store = await openStore();
    const entries = (await store.getAll('outbox')).sort((a, b) => a.createdAt - b.createdAt);
    const out: Delivery[] = [];
    for (const entry of entries) {
      try {
        const response = await postSigned<ResultResponse>(identity, '/api/results', entry.request);
        await store.delete('outbox', entry.leaseId);
        out.push({ entry, delivered: true, response });
      } catch (err) {
        if (!isFinal(err)) break; // offline or edge down: keep this and the rest, in order
        await store.delete('outbox', entry.leaseId);
        out.push({ entry, delivered: false, refused: err.message });
      }
    }
    return out;
  })().finally(() => (flushing = undefined));
  return flushing;
}
