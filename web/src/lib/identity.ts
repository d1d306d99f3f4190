// The volunteer's identity: an Ed25519 key made in this browser and kept in IndexedDB, registered
// once with the edge, which derives the volunteer id from the public key.
import {
  exportPublicKey,
  generateSigningKey,
  signCanonical,
  volunteerIdFor,
} from '../../../shared/crypto.ts';
import type { RegisterPayload, RegisterResponse } from '../../../shared/protocol.ts';
import { postJson } from './api.ts';
import { openStore, type StoredIdentity } from './db.ts';

export async function loadOrCreateIdentity(): Promise<StoredIdentity> {
  const store = await openStore();
  const existing = await store.get('identity', 'self');
  if (existing) return existing;
  const keys = await generateSigningKey();
  const publicKey = await exportPublicKey(keys.publicKey);
  const identity: StoredIdentity = {
    volunteerId: await volunteerIdFor(publicKey),
    publicKey,
    keys,
  };
  await store.put('identity', identity, 'self');
  return identity;
}

/**
 * Registration is idempotent on the edge, so it is simply repeated on every start; it also carries
 * the display name, which is remembered with the identity.
 */
export async function register(identity: StoredIdentity, displayName?: string): Promise<void> {
  if (identity.linked) return; // a moved identity: the volunteer exists, registered by its first key
  const name = displayName?.trim() || identity.displayName;
  if (name && name !== identity.displayName) {
    identity.displayName = name;
    await (await openStore()).put('identity', identity, 'self');
  }
  const payload: RegisterPayload = {
    type: 'register',
    publicKey: identity.publicKey,
    timestamp: Date.now(),
    ...(name && { displayName: name }),
  };
  const signature = await signCanonical(identity.keys.privateKey, payload);
  const res = await postJson<RegisterResponse>('/api/volunteers', { payload, signature });
  if (res.volunteerId !== identity.volunteerId)
    throw new Error('the edge derived another volunteer id');
}
