// The browser's own storage (IndexedDB, through idb), opened the same way from the page and from
// the training worker: the volunteer's identity, the dataset cache (with each file's last use, for
// evicting the least recently used) and lineages' parent checkpoints keyed by SHA-256, checkpoints of
// the leased experiment, the outbox of signed results not yet acknowledged by the edge, and the
// committed checkpoints a spot check may ask to see.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { Backend, Lease, ResultRequest, SpotCheckRequest } from '../../../shared/protocol.ts';
import type { TrainCheckpoint } from '../../../shared/train/loop.ts';
import type { CachedFile } from '../worker/dataset-lru.ts';

export interface StoredIdentity {
  volunteerId: string;
  publicKey: string;
  keys: CryptoKeyPair; // the private key is non-extractable: it can sign, never be read out
  displayName?: string;
  linked?: boolean; // imported from another browser: a key linked to an existing volunteer
}

/** A leased experiment in progress: enough to resume it after a reload, a crash or a Stop. */
export interface SavedRun {
  lease: Lease;
  backend: Backend;
  checkpoint: TrainCheckpoint | null; // null until the first checkpoint is written
  commitments?: Record<number, string>; // step → checkpoint commitment (shared/commit.ts), as made
  savedAt: number;
}

/**
 * A signed result, written before it is sent and deleted once the edge has answered for it: an
 * experiment's result, or a spot check's (sent to the lease's `spotCheck.submitPath`).
 */
export type OutboxEntry = {
  leaseId: string;
  experimentId: string;
  createdAt: number;
} & ({ path?: undefined; request: ResultRequest } | { path: string; request: SpotCheckRequest });

/**
 * A checkpoint this lease committed to at `step` (shared/commit.ts) that the edge asked to see: for
 * a spot check (id: the spot check's) or, in a lineage, its final one (id: `final:<result id>`).
 */
export interface PendingReveal {
  id: string;
  leaseId: string;
  step: number;
  path: string;
  createdAt: number;
}

/** The key of a committed checkpoint's blob: kept until its result's answer says whether it is asked for. */
export const commitKey = (leaseId: string, step: number) => `${leaseId}:${step}`;

interface TabgridDB extends DBSchema {
  identity: { key: 'self'; value: StoredIdentity };
  blobs: { key: string; value: ArrayBuffer }; // dataset files and parent checkpoints by their SHA-256
  datasetFiles: { key: string; value: CachedFile }; // the dataset files in blobs: size, last use (LRU)
  runs: { key: string; value: SavedRun }; // by lease id
  outbox: { key: string; value: OutboxEntry }; // by lease id: one result per lease
  commits: { key: string; value: ArrayBuffer }; // committed checkpoints by commitKey
  reveals: { key: string; value: PendingReveal }; // by PendingReveal.id
}

let db: Promise<IDBPDatabase<TabgridDB>> | undefined;

export function openStore(): Promise<IDBPDatabase<TabgridDB>> {
  db ??= openDB<TabgridDB>('tabgrid', 4, {
    upgrade(d, oldVersion) {
      if (oldVersion < 1) {
        d.createObjectStore('identity');
        d.createObjectStore('blobs');
      }
      if (oldVersion < 2) {
        d.createObjectStore('runs');
        d.createObjectStore('outbox');
      }
      if (oldVersion < 3) {
        d.createObjectStore('commits');
        d.createObjectStore('reveals');
      }
      if (oldVersion < 4) d.createObjectStore('datasetFiles');
    },
  });
  return db;
}

/** The saved run to resume first: the most recently saved one whose lease is still live. */
export async function resumableRun(now: number, marginMs = 10_000): Promise<SavedRun | null> {
  const store = await openStore();
  const runs = await store.getAll('runs');
  for (const r of runs)
    if (r.lease.deadline <= now + marginMs) await store.delete('runs', r.lease.leaseId);
  const live = runs
    .filter((r) => r.lease.deadline > now + marginMs)
    .sort((a, b) => b.savedAt - a.savedAt);
  return live[0] ?? null;
}
