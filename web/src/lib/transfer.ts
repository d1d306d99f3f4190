// Moving an identity to another browser without ever extracting its signing key: export makes a
// fresh key, links it to the volunteer on the edge (signed by the current key, proven by the new
// one), and writes only that new key to a file encrypted with the volunteer's passphrase
// (PBKDF2-SHA-256 → AES-GCM, WebCrypto). Import decrypts it into a non-extractable key.
import { z } from 'zod';
import { fromBase64Url, toBase64Url } from '../../../shared/crypto.ts';
import { PublicKey, VolunteerId } from '../../../shared/protocol.ts';
import { linkKeyRequest } from '../../../shared/volunteer-client.ts';
import { postSigned } from './api.ts';
import { openStore, type StoredIdentity } from './db.ts';

/** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. */
const ITERATIONS = 600_000;
export const MIN_PASSPHRASE = 10;

const IdentityFile = z.object({
  format: z.literal('tabgrid-identity'),
  version: z.literal(1),
  volunteerId: VolunteerId,
  publicKey: PublicKey,
  displayName: z.string().max(40).optional(),
  kdf: z.object({
    name: z.literal('PBKDF2'),
    hash: z.literal('SHA-256'),
    iterations: z.number().int().min(100_000).max(10_000_000),
    salt: z.string(),
  }),
  iv: z.string(),
  ciphertext: z.string(), // AES-GCM of the new key's PKCS#8 bytes
});
type IdentityFile = z.infer<typeof IdentityFile>;

async function wrappingKey(
  passphrase: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(passphrase),
    'PBKDF2',
    false,
    ['deriveKey'],
  );
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** Links a new key to this volunteer and returns the encrypted file that carries it. */
export async function exportIdentity(
  identity: StoredIdentity,
  passphrase: string,
): Promise<string> {
  if (passphrase.length < MIN_PASSPHRASE)
    throw new Error(`Choose a passphrase of at least ${MIN_PASSPHRASE} characters.`);
  const next = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const link = await linkKeyRequest(identity.volunteerId, next);
  await postSigned(identity, '/api/volunteers/keys', link);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', next.privateKey);
  const ciphertext = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv },
    await wrappingKey(passphrase, salt, ITERATIONS),
    pkcs8,
  );
  const file: IdentityFile = {
    format: 'tabgrid-identity',
    version: 1,
    volunteerId: identity.volunteerId,
    publicKey: link.payload.publicKey,
    ...(identity.displayName && { displayName: identity.displayName }),
    kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: ITERATIONS, salt: toBase64Url(salt) },
    iv: toBase64Url(iv),
    ciphertext: toBase64Url(new Uint8Array(ciphertext)),
  };
  return JSON.stringify(file, null, 2);
}

/** Replaces this browser's identity with the one in the file; its key becomes non-extractable here. */
export async function importIdentity(text: string, passphrase: string): Promise<StoredIdentity> {
  let file: IdentityFile;
  try {
    file = IdentityFile.parse(JSON.parse(text));
  } catch {
    throw new Error('This is not a Tabgrid identity file.');
  }
  let pkcs8: ArrayBuffer;
  try {
    const key = await wrappingKey(passphrase, fromBase64Url(file.kdf.salt), file.kdf.iterations);
    pkcs8 = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: fromBase64Url(file.iv) },
      key,
      fromBase64Url(file.ciphertext),
    );
  } catch {
    throw new Error('The passphrase does not open this identity file.');
  }
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, [
    'sign',
  ]);
  const publicKey = await crypto.subtle.importKey(
    'raw',
    fromBase64Url(file.publicKey),
    { name: 'Ed25519' },
    true,
    ['verify'],
  );
  const identity: StoredIdentity = {
    volunteerId: file.volunteerId,
    publicKey: file.publicKey,
    keys: { privateKey, publicKey },
    displayName: file.displayName,
    linked: true,
  };
  await (await openStore()).put('identity', identity, 'self');
  return identity;
}
