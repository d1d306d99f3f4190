// Hostile inputs as fast-check arbitraries: boundary numbers, literals JSON forbids, odd strings,
// bodies of every shape and encoding, content types, path segments and header values.
import fc from 'fast-check';
import { MAX_BODY_BYTES } from '../src/body.ts';
import { ROUTES } from './routes.ts';
import { RESEARCHER_TOKEN } from './helpers.ts';

/** Number literals JSON forbids, overflows or reads oddly, and numbers hidden in strings. */
export const rawNumber = fc.constantFrom(
  ...'NaN Infinity -Infinity -0 1e308 -1e308 1e999 -1e999 1e-400 5e-324 9007199254740993 0x10 00 .5 1. +1'.split(
    ' ',
  ),
  ...['"NaN"', '"Infinity"', '"-0"', '"1e308"', '"3"'],
);

// prettier-ignore
const boundaryNumber = fc.constantFrom(
  0, -0, 1, -1, 0.5, 2 ** 31 - 1, 2 ** 31, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER + 2,
  Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 64, 64.000001, 1000, 1001, 20000, 20001,
);

export const weirdString = fc.oneof(
  // prettier-ignore
  fc.constantFrom(
    '', ' ', '\u0000', '\ud800', '\udfff\ud800', '\u202e', '<script>alert(1)</script>', "' OR 1=1 --",
    '../../etc/passwd', 'A'.repeat(43), 'A'.repeat(86), 'a'.repeat(64), 'A'.repeat(64),
    `v_${'0'.repeat(32)}`, '__proto__', 'constructor', 'c1', 'c1-0', 'wasm',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 200 }),
);

const MAX = MAX_BODY_BYTES;
const hugeString = fc.constantFrom(MAX - 200, MAX, MAX + 1, 4 * MAX).map((n) => 'x'.repeat(n));

export const leaf = fc.oneof(
  { arbitrary: boundaryNumber, weight: 3 },
  { arbitrary: weirdString, weight: 3 },
  { arbitrary: fc.double(), weight: 1 }, // NaN and ±Infinity here become null in JSON.stringify
  { arbitrary: fc.boolean(), weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: hugeString, weight: 1 },
);

/** Any JSON value, biased to the hostile leaves above, including 300-deep nesting. */
export const value: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: leaf, weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  { arbitrary: fc.array(leaf, { maxLength: 4 }), weight: 1 },
  { arbitrary: fc.dictionary(weirdString, leaf, { maxKeys: 4 }), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 300 }).map(nested), weight: 1 },
);

function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** Objects with the keys the routes expect (a random subset), holding values of the wrong kind. */
const KEYS =
  'payload signature capabilities campaignId result leaseToken step loss name brief template datasetId searchSpace experiments steps seed';
const shapedBody = fc
  .record(Object.fromEntries(KEYS.split(' ').map((k) => [k, value])), { requiredKeys: [] })
  .map((o) => JSON.stringify(o));

function utf8(...parts: (string | readonly number[])[]): Uint8Array<ArrayBuffer> {
  const chunks = parts.map((p) =>
    typeof p === 'string' ? new TextEncoder().encode(p) : new Uint8Array(p),
  );
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) out.set(c, (at += c.length) - c.length);
  return out;
}

/** Request bodies: JSON of every shape, huge, deeply nested, not JSON, not even UTF-8. */
export const body: fc.Arbitrary<string | Uint8Array<ArrayBuffer>> = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  shapedBody,
  rawNumber,
  hugeString.map((s) => JSON.stringify({ pad: s })),
  fc.integer({ min: 1, max: 40_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.integer({ min: 1, max: 15_000 }).map((n) => '{"a":'.repeat(n) + '0' + '}'.repeat(n)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  // prettier-ignore
  fc.constantFrom('', '{', '}', '{"a":1,}', "{'a':1}", '{"a":1}{"b":2}', '\ufeff{}', 'null', '[]', '"text"', '{"__proto__":{"admin":true}}'),
  fc.uint8Array({ maxLength: 300 }).map((b) => new Uint8Array(b)),
  // Invalid UTF-8: a lone continuation byte, truncated sequences, an encoded surrogate, overlong forms.
  fc
    .constantFrom(
      [0xff],
      [0xc3, 0x28],
      [0xe2, 0x82],
      [0xed, 0xa0, 0x80],
      [0xc0, 0xaf],
      [0xf8, 0x88, 0x80, 0x80, 0x80],
    )
    .map((bad) => utf8('{"payload":"', bad, '"}')),
);

/** Mostly JSON; otherwise a variant, a wrong type, or none (a string body then says text/plain). */
export const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 6 },
  {
    // prettier-ignore
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'text/json', 'application/jsonx',
      'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', '', undefined,
    ),
    weight: 4,
  },
);

/** A path segment where an id goes: real ids, bad percent-encodings, traversal, anything encoded. */
export const segment = fc.oneof(
  // prettier-ignore
  fc.constantFrom('c1', 'c1-0', 'nope', '', '..', '%', '%ZZ', '%ff', '%ED%A0%80', '%00', 'a%2Fb', 'x'.repeat(65), '<script>', '%20', 'leaderboard'),
  fc.string({ unit: 'binary', maxLength: 70 }).map(encodeURIComponent),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
);

const path = fc
  .tuple(
    fc.oneof(
      // prettier-ignore
      fc.constantFrom(
        '/api/health', '/api/openapi.json', '/api/docs', '/api/volunteers', '/api/leases', '/api/results',
        '/api/campaigns', '/api', '/api/', '/', '/api/campaigns/', '/api//volunteers', '/embed',
      ),
      segment.map((s) => `/api/leases/${s}/heartbeat`),
      segment.map((s) => `/api/campaigns/${s}`),
      segment.map((s) => `/api/campaigns/${s}/leaderboard`),
      segment.map((s) => `/api/${s}`),
    ),
    fc.constantFrom('', '', '?a=1', `?token=${RESEARCHER_TOKEN}`, `?${'q=1&'.repeat(500)}`),
  )
  .map(([p, q]) => p + q);

const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');

/**
 * A method and a path: mostly a documented route's own (any {id} fuzzed), so that most requests
 * get past routing to the handlers; reading the OpenAPI route list keeps this in step with new routes.
 */
export const target = fc.oneof(
  {
    arbitrary: fc
      .constantFrom(...ROUTES)
      .chain((r) =>
        segment.map((s) => [r.method.toUpperCase(), r.path.replace(/\{[^}]+\}/g, s)] as const),
      ),
    weight: 3,
  },
  {
    arbitrary: fc.oneof(
      fc.constantFrom(['GET', '/api/openapi.json'] as const, ['GET', '/api/docs'] as const),
      segment.map((s) => ['GET', `/embed?partner=${s}`] as const),
    ),
    weight: 1,
  },
  { arbitrary: fc.tuple(method, path), weight: 1 },
);

/** Printable ASCII without edge spaces: what a header value can carry unchanged. */
export const headerText = fc
  .string({
    unit: fc.constantFrom(...'ABCDEFabcdef0123456789_-=+/.:, ;!%'),
    minLength: 1,
    maxLength: 120,
  })
  .map((s) => s.trim())
  .filter((s) => s.length > 0);
