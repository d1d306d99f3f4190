// Cases that must hold identically in every runtime Tabgrid runs in: canonical JSON, hashes,
// signatures, the seeded RNG and spec hashing. Run by shared/cross-runtime.test.ts (Node) and
// edge/test/cross-runtime.test.ts (workerd).
import { expect } from 'vitest';
import { canonicalJson } from '../canonical.ts';
import {
  exportPublicKey,
  fromBase64Url,
  generateSigningKey,
  hashCanonical,
  sha256,
  signCanonical,
  toBase64Url,
  toHex,
  verifyCanonical,
  volunteerIdFor,
} from '../crypto.ts';
import { Rng } from '../rng.ts';

const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));

export const crossRuntimeCases: [string, () => Promise<void> | void][] = [
  [
    'canonical JSON sorts keys by UTF-16 code units and formats numbers as ES6 does (RFC 8785 §3.2)',
    () => {
      expect(canonicalJson({ b: 1, a: [true, null, 'x'], '\u20ac': 2, '\r': 3, '1': 4 })).toBe(
        '{"\\r":3,"1":4,"a":[true,null,"x"],"b":1,"€":2}',
      );
      // RFC 8785's own example: the literal is written with more digits than a double holds, on purpose.
      // eslint-disable-next-line no-loss-of-precision
      expect(canonicalJson([1e21, 0.1, -0, 1e-7, 333333333.33333329, 5e-324])).toBe(
        '[1e+21,0.1,0,1e-7,333333333.3333333,5e-324]',
      );
      expect(canonicalJson({ s: 'a\u0007\u00e9"\\' })).toBe('{"s":"a\\u0007é\\"\\\\"}');
    },
  ],
  [
    'canonical JSON refuses what JSON cannot carry',
    () => {
      expect(() => canonicalJson({ x: Number.NaN })).toThrow();
      expect(() => canonicalJson([Infinity])).toThrow();
    },
  ],
  [
    'SHA-256 matches the FIPS 180-2 vectors',
    async () => {
      expect(await sha256('abc')).toBe(
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      );
      expect(await sha256('')).toBe(
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      );
      expect(await hashCanonical({ b: 2, a: 1 })).toBe(await sha256('{"a":1,"b":2}'));
    },
  ],
  [
    'Ed25519 verifies the RFC 8032 §7.1 test vector 2',
    async () => {
      // Test 2: one-byte message 0x72. verifyCanonical signs canonical JSON, so check raw WebCrypto.
      const pub = hex('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
      const sig = hex(
        '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
      );
      const key = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
      expect(await crypto.subtle.verify({ name: 'Ed25519' }, key, sig, Uint8Array.of(0x72))).toBe(
        true,
      );
      expect(await crypto.subtle.verify({ name: 'Ed25519' }, key, sig, Uint8Array.of(0x73))).toBe(
        false,
      );
    },
  ],
  [
    'a canonical signature verifies, and fails for another value, key or mangled signature',
    async () => {
      const keys = await generateSigningKey();
      const pub = await exportPublicKey(keys.publicKey);
      const value = { type: 'result', metrics: { valBpb: 2.5, curve: [3, 2.8] } };
      const sig = await signCanonical(keys.privateKey, value);
      expect(
        await verifyCanonical(pub, sig, {
          metrics: { curve: [3, 2.8], valBpb: 2.5 },
          type: 'result',
        }),
      ).toBe(true);
      expect(await verifyCanonical(pub, sig, { ...value, type: 'other' })).toBe(false);
      const other = await exportPublicKey((await generateSigningKey()).publicKey);
      expect(await verifyCanonical(other, sig, value)).toBe(false);
      const mangled = fromBase64Url(sig);
      mangled[0] = mangled[0]! ^ 0x01; // one flipped bit (not a text edit: base64url's last character has spare bits)
      expect(await verifyCanonical(pub, toBase64Url(mangled), value)).toBe(false);
      expect(await verifyCanonical('not a key', sig, value)).toBe(false);
    },
  ],
  [
    'base64url round-trips and volunteer ids derive from the key',
    async () => {
      const bytes = Uint8Array.from({ length: 40 }, (_, i) => (i * 37) & 255);
      expect(toHex(fromBase64Url(toBase64Url(bytes)))).toBe(toHex(bytes));
      const pub = toBase64Url(new Uint8Array(32));
      expect(await volunteerIdFor(pub)).toBe(
        'v_' + (await sha256(new Uint8Array(32))).slice(0, 32),
      );
    },
  ],
  [
    'the seeded RNG yields the same stream everywhere',
    () => {
      const rng = Rng.derive(1337, 'batches');
      const first = Array.from({ length: 4 }, () => rng.nextUint32());
      expect(first).toEqual(RNG_VECTOR);
      const resumed = new Rng(rng.state);
      expect(resumed.nextUint32()).toBe(rng.nextUint32());
    },
  ],
];

/** The first four outputs of Rng.derive(1337, 'batches'), recorded once in Node. */
const RNG_VECTOR = [2970463473, 3614145428, 2875153105, 3130218620];
