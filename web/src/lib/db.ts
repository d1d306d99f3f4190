// The browser's own storage (IndexedDB, through idb): the volunteer's identity and the dataset
// cache keyed by SHA-256. Opened the same way from the page and from the training worker.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';

export interface StoredIdentity {
  volunteerId: string;
  publicKey: string;
  keys: CryptoKeyPair; // the private key is non-extractable: it can sign, never be read out
  displayName?: string;
}

interface TabgridDB extends DBSchema {
  identity: { key: 'self'; value: StoredIdentity };
  blobs: { key: string; value: ArrayBuffer }; // dataset files by their SHA-256
}

let db: Promise<IDBPDatabase<TabgridDB>> | undefined;

export function openStore(): Promise<IDBPDatabase<TabgridDB>> {
  db ??= openDB<TabgridDB>('tabgrid', 1, {
    upgrade(d) {
      d.createObjectStore('identity');
      d.createObjectStore('blobs');
    },
  });
  return db;
}
