// The browser's own storage (IndexedDB, through idb), opened the same way from the page and from
// the training worker: the volunteer's identity, the dataset cache keyed by SHA-256, checkpoints of
// the leased experiment, and the outbox of signed results not yet acknowledged by the edge.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { Backend, Lease, ResultRequest } from '../../../shared/protocol.ts';
import type { TrainCheckpoint } from '../../../shared/train/loop.ts';

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
  savedAt: number;
}

/** A signed result, written before it is sent and deleted once the edge has answered for it. */
export interface OutboxEntry {
  leaseId: string;
  experimentId: string;
  request: ResultRequest;
  createdAt: number;
}

interface TabgridDB extends DBSchema {
  identity: { key: 'self'; value: StoredIdentity };
  blobs: { key: string; value: ArrayBuffer }; // dataset files by their SHA-256
  runs: { key: string; value: SavedRun }; // by lease id
  outbox: { key: string; value: OutboxEntry }; // by lease id: one result per lease
}

let db: Promise<IDBPDatabase<TabgridDB>> | undefined;

export function openStore(): Promise<IDBPDatabase<TabgridDB>> {
  db ??= openDB<TabgridDB>('tabgrid', 2, {
    upgrade(d, oldVersion) {
      if (oldVersion < 1) {
        d.createObjectStore('identity');
        d.createObjectStore('blobs');
      }
      if (oldVersion < 2) {
        d.createObjectStore('runs');
        d.createObjectStore('outbox');
      }
    },
  });
  return db;
}

/** The saved run to resume first: the most recently saved one whose lease is still live. */
export async function resumableRun(now: number, marginMs = 10_000): Promise<SavedRun | null> {
  const store = await openStore();
  const runs = await store.getAll('runs');
  for (const r of runs) if (r.lease.deadline <= now + marginMs) await store.delete('runs', r.lease.leaseId);
  const live = runs.filter((r) => r.lease.deadline > now + marginMs).sort((a, b) => b.savedAt - a.savedAt);
  return live[0] ?? null;
}
