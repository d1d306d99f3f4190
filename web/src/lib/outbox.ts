// Delivering signed results exactly once: each result is written to IndexedDB before it is sent
// and deleted only once the edge has answered for it. The edge makes submission idempotent per
// lease (a second delivery returns the first outcome), so a retry after a lost answer is safe.
import type { ResultResponse, SpotCheckResponse } from '../../../shared/protocol.ts';
import { EdgeError, postSigned, putSigned } from './api.ts';
import { commitKey, openStore, type OutboxEntry, type StoredIdentity } from './db.ts';

export type Delivery =
  | { entry: OutboxEntry; delivered: true; response: ResultResponse | SpotCheckResponse }
  | { entry: OutboxEntry; delivered: false; refused: string }; // the edge will never take it

export async function enqueue(entry: Omit<OutboxEntry, 'createdAt'>): Promise<void> {
  await (
    await openStore()
  ).put('outbox', { ...entry, createdAt: Date.now() } as OutboxEntry, entry.leaseId);
}

export async function pendingCount(): Promise<number> {
  return (await openStore()).count('outbox');
}

/** A refusal that no retry can change (4xx but throttling or timeouts). */
function isFinal(err: unknown): err is EdgeError {
  return (
    err instanceof EdgeError &&
    err.status >= 400 &&
    err.status < 500 &&
    err.status !== 408 &&
    err.status !== 429
  );
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
        const response = await postSigned<ResultResponse | SpotCheckResponse>(
          identity,
          entry.path ?? '/api/results',
          entry.request,
        );
        // A spot check, or a lineage, asks to see a committed checkpoint: remembered before the entry goes.
        const asked = [
          'reveal' in response && response.reveal
            ? { ...response.reveal, id: response.reveal.spotCheckId }
            : null,
          'checkpoint' in response && response.checkpoint
            ? { ...response.checkpoint, id: `final:${response.resultId}` }
            : null,
        ];
        for (const r of asked) {
          if (!r) continue;
          const { id, step, path } = r;
          await store.put(
            'reveals',
            { id, leaseId: entry.leaseId, step, path, createdAt: Date.now() },
            id,
          );
        }
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

/**
 * Uploads the checkpoints spot checks and lineages asked for (shared/commit.ts's blob, checked by
 * the edge against the commitment), then deletes every committed checkpoint no longer needed: those of
 * leases with no run, no result waiting in the outbox and no pending reveal.
 */
export async function flushReveals(identity: StoredIdentity): Promise<void> {
  const store = await openStore();
  for (const r of await store.getAll('reveals')) {
    const blob = await store.get('commits', commitKey(r.leaseId, r.step));
    if (blob) {
      let res: Response;
      try {
        res = await putSigned(identity, r.path, new Uint8Array(blob));
      } catch {
        break; // offline: the next flush tries again
      }
      if (res.status >= 500 || res.status === 429) break;
    }
    await store.delete('reveals', r.id); // uploaded, or refused for good (expired, or no blob kept)
  }
  const keep = new Set([
    ...(await store.getAllKeys('runs')),
    ...(await store.getAllKeys('outbox')),
    ...(await store.getAll('reveals')).map((r) => r.leaseId),
  ]);
  for (const key of await store.getAllKeys('commits')) {
    if (!keep.has(key.slice(0, key.lastIndexOf(':')))) await store.delete('commits', key);
  }
}
