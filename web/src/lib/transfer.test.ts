// Tests moving an identity with real WebCrypto: the passphrase-encrypted file round-trips to a key
// that signs for the linked public key, and a wrong passphrase or a damaged file is refused.
import { afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  exportPublicKey,
  generateSigningKey,
  signCanonical,
  verifyCanonical,
  volunteerIdFor,
} from '../../../shared/crypto.ts';
import { SIGNATURE_HEADERS, type LinkKeyPayload } from '../../../shared/protocol.ts';
import { openStore, type StoredIdentity } from './db.ts';
import { exportIdentity, importIdentity, MIN_PASSPHRASE } from './transfer.ts';

const PASSPHRASE = 'correct horse battery';

/** A link-key request as the edge received it. */
interface LinkRequest {
  path: string;
  headers: Headers;
  body: { payload: LinkKeyPayload; proof: string };
}

let identity: StoredIdentity;
let requests: LinkRequest[];

async function freshIdentity(): Promise<StoredIdentity> {
  const keys = await generateSigningKey();
  const publicKey = await exportPublicKey(keys.publicKey);
  return { volunteerId: await volunteerIdFor(publicKey), publicKey, keys, displayName: 'Ada' };
}

function edgeAnswers(status: number): void {
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init: RequestInit = {}) => {
    requests.push({
      path: String(input),
      headers: new Headers(init.headers),
      body: JSON.parse(String(init.body)) as LinkRequest['body'],
    });
    return new Response(
      JSON.stringify(status < 400 ? { ok: true } : { error: 'nope', message: 'Not linked.' }),
      { status },
    );
  });
}

beforeEach(async () => {
  identity = await freshIdentity();
  requests = [];
  edgeAnswers(200);
});

afterEach(() => vi.unstubAllGlobals());

describe('exportIdentity → importIdentity', () => {
  let source: StoredIdentity;
  let file: string;
  let link: LinkRequest;

  // PBKDF2 at 600,000 iterations takes a while: one export serves the round-trip tests.
  beforeAll(async () => {
    requests = [];
    source = await freshIdentity();
    edgeAnswers(200);
    file = await exportIdentity(source, PASSPHRASE);
    link = requests[0]!;
  });

  test('links a fresh key: signed by the current key, proven by the new one', async () => {
    expect(link.path).toBe('/api/volunteers/keys');
    expect(link.headers.get(SIGNATURE_HEADERS.volunteer)).toBe(source.volunteerId);
    const { payload, proof } = link.body;
    expect(payload).toMatchObject({ type: 'link-key', volunteerId: source.volunteerId });
    expect(payload.publicKey).not.toBe(source.publicKey);
    expect(await verifyCanonical(payload.publicKey, proof, payload)).toBe(true);
  });

  test('the file holds the new public key and no readable private key', () => {
    const parsed = JSON.parse(file) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      format: 'tabgrid-identity',
      volunteerId: source.volunteerId,
      publicKey: link.body.payload.publicKey,
      displayName: 'Ada',
      kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: 600_000 },
    });
    expect(file).not.toContain('PRIVATE');
  });

  test('round-trips: the imported key signs for the linked public key and is stored', async () => {
    const imported = await importIdentity(file, PASSPHRASE);
    expect(imported).toMatchObject({
      volunteerId: source.volunteerId,
      publicKey: link.body.payload.publicKey,
      displayName: 'Ada',
      linked: true,
    });
    expect(imported.keys.privateKey.extractable).toBe(false);
    const message = { hello: 'edge' };
    const signature = await signCanonical(imported.keys.privateKey, message);
    expect(await verifyCanonical(link.body.payload.publicKey, signature, message)).toBe(true);
    const stored = await (await openStore()).get('identity', 'self');
    expect(stored?.publicKey).toBe(link.body.payload.publicKey);
  });

  test('refuses a wrong passphrase and keeps the identity it had', async () => {
    const store = await openStore();
    await store.put('identity', identity, 'self');
    await expect(importIdentity(file, 'wrong horse battery')).rejects.toThrow(
      'The passphrase does not open this identity file.',
    );
    expect((await store.get('identity', 'self'))?.publicKey).toBe(identity.publicKey);
  });

  test('refuses a file whose ciphertext was altered', async () => {
    const parsed = JSON.parse(file) as { ciphertext: string };
    const flipped = parsed.ciphertext.startsWith('A') ? 'B' : 'A';
    const altered = JSON.stringify({ ...parsed, ciphertext: flipped + parsed.ciphertext.slice(1) });
    await expect(importIdentity(altered, PASSPHRASE)).rejects.toThrow(
      'The passphrase does not open this identity file.',
    );
  });

  test('refuses a file that lowers the key-derivation cost', async () => {
    const parsed = JSON.parse(file) as { kdf: object };
    const cheap = JSON.stringify({ ...parsed, kdf: { ...parsed.kdf, iterations: 1000 } });
    await expect(importIdentity(cheap, PASSPHRASE)).rejects.toThrow(
      'This is not a Tabgrid identity file.',
    );
  });
});

describe('exportIdentity refusals', () => {
  test(`a passphrase under ${MIN_PASSPHRASE} characters is refused before anything is linked`, async () => {
    await expect(exportIdentity(identity, 'x'.repeat(MIN_PASSPHRASE - 1))).rejects.toThrow(
      /at least 10 characters/,
    );
    expect(requests).toEqual([]);
  });

  test('no file is made when the edge refuses to link the key', async () => {
    edgeAnswers(409);
    await expect(exportIdentity(identity, PASSPHRASE)).rejects.toThrow('Not linked.');
  });
});

describe('importIdentity refusals', () => {
  test.each([
    ['not JSON', 'hello'],
    ['another JSON file', '{"format":"something-else"}'],
    ['a future version', JSON.stringify({ format: 'tabgrid-identity', version: 2 })],
  ])('%s is not an identity file', async (_, text) => {
    await expect(importIdentity(text, PASSPHRASE)).rejects.toThrow(
      'This is not a Tabgrid identity file.',
    );
  });
});
