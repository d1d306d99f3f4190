// Property-based tests: fast-check sends malformed, oversized, wrongly typed and boundary inputs
// (arbitraries.ts, edits.ts) to every API route through the real app and a migrated D1, and each
// response must satisfy oracle.ts. A failure prints fast-check's seed and the shrunk counterexample.
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { exportPublicKey, generateSigningKey, signCanonical } from '../../shared/crypto.ts';
import { MAX_CLOCK_SKEW_MS, type Lease } from '../../shared/protocol.ts';
import { body, contentType, headerText, segment, target } from './arbitraries.ts';
import { WIDTH_SWEEP } from './campaign-fixtures.ts';
import {
  applyEdits,
  edits,
  leafPaths,
  numberPaths,
  resign,
  SIGNATURE_SLOT,
  type Edit,
} from './edits.ts';
import {
  api,
  newVolunteer,
  nextTimestamp,
  RESEARCHER_TOKEN,
  resultPayload,
  seedCampaign,
  seedResearcher,
  signedHeaders,
  type TestVolunteer,
} from './helpers.ts';
import { before, check } from './oracle.ts';

// 40 runs a property keep this file at a few seconds; shrinking a failure may take longer, so
// fast-check stops after 20 s and still reports the smallest case it found by then.
fc.configureGlobal({ numRuns: 40, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true });

let v: TestVolunteer;
let campaigns = 0;
beforeEach(async () => {
  await seedResearcher();
  await seedCampaign('c1', 40);
  campaigns = 1;
  v = await newVolunteer('fuzzer');
});

/** A new volunteer holding a new lease: each run gets its own, because a success uses one up. */
async function freshLease(): Promise<{ v: TestVolunteer; lease: Lease }> {
  const owner = await newVolunteer();
  let lease = await owner.lease();
  if (!lease) {
    await seedCampaign(`c${++campaigns}`, 40);
    lease = await owner.lease();
  }
  return { v: owner, lease: lease! };
}

interface Sent {
  body?: string | Uint8Array<ArrayBuffer>;
  type?: string | undefined;
  headers?: Record<string, string>;
}

function send(
  method: string,
  path: string,
  { body: b, type, headers = {} }: Sent,
): Promise<Response> {
  const all = { ...headers, ...(type !== undefined && { 'content-type': type }) };
  const withBody = method !== 'GET' && method !== 'HEAD' && b !== undefined;
  return api(path, { method, headers: all, ...(withBody && { body: b }) });
}

describe('any request to any route', () => {
  it('is answered below 500, refused in the documented shape, and refused without a trace', async () => {
    const signatureHeaders = fc.record(
      {
        'x-tabgrid-volunteer': fc.oneof(headerText, fc.constantFrom(`v_${'0'.repeat(32)}`, '')),
        'x-tabgrid-timestamp': fc.oneof(
          headerText,
          fc.constantFrom('NaN', 'Infinity', '-0', '1e308', '0', String(Date.now())),
        ),
        'x-tabgrid-signature': fc.oneof(headerText, fc.constant('A'.repeat(86))),
        'x-tabgrid-key': fc.oneof(headerText, fc.constantFrom('A'.repeat(43), '')),
      },
      { requiredKeys: [] },
    );
    const authorization = fc.oneof(
      headerText,
      fc.constantFrom(`Bearer ${RESEARCHER_TOKEN}`, 'Bearer x'),
    );
    const headers = fc
      .tuple(fc.option(signatureHeaders), fc.option(authorization))
      .map(([sig, auth]) => ({ ...sig, ...(auth !== null && { authorization: auth }) }));
    await fc.assert(
      fc.asyncProperty(target, body, contentType, headers, async ([m, p], b, type, h) => {
        const was = await before();
        await check(m, p, await send(m, p, { body: b, type, headers: h }), was);
      }),
    );
  });
});

describe('signed requests with bodies of every shape', () => {
  it('are refused in the documented shape, remembering at most the verified signature', async () => {
    const route = fc.oneof(
      fc.constantFrom('/api/leases', '/api/results', 'heartbeat'),
      segment.map((s) => `/api/leases/${s}/heartbeat`),
    );
    await fc.assert(
      fc.asyncProperty(route, body, contentType, async (r, b, type) => {
        const { v: owner, lease } = await freshLease();
        const p = r === 'heartbeat' ? `/api/leases/${lease.leaseId}/heartbeat` : r;
        const pathname = new URL(`http://localhost${p}`).pathname; // what the edge verifies
        const headers = await signedHeaders(owner.id, owner.keys, 'POST', pathname, b);
        const was = await before();
        await check('POST', p, await send('POST', p, { body: b, type, headers }), was);
      }),
    );
  });
});

interface EditedRoute {
  name: string;
  /** A valid request body for this run, and a sender for any (edited) text of it. */
  setup(): Promise<{ base: unknown; send(text: string): Promise<{ path: string; res: Response }> }>;
}

/** Small: each run creates its experiments. */
const BRIEF = { ...WIDTH_SWEEP, experiments: 2, steps: 50 };

const EDITED: EditedRoute[] = [
  {
    name: 'POST /api/volunteers',
    async setup() {
      const keys = await generateSigningKey();
      const payload = {
        type: 'register',
        publicKey: await exportPublicKey(keys.publicKey),
        displayName: 'Ada',
        timestamp: Date.now(),
      };
      return {
        base: { payload, signature: SIGNATURE_SLOT },
        send: async (text) => {
          const res = await send('POST', '/api/volunteers', {
            body: await resign(text, 'payload', keys),
            type: 'application/json',
          });
          return { path: '/api/volunteers', res };
        },
      };
    },
  },
  {
    name: 'POST /api/leases',
    async setup() {
      const owner = await newVolunteer();
      return {
        base: {
          campaignId: 'c1',
          capabilities: { backend: 'webgpu', adapter: 'Apple M2', tokensPerSec: 5000 },
        },
        send: async (text) => ({
          path: '/api/leases',
          res: await owner.post('/api/leases', null, { raw: text }),
        }),
      };
    },
  },
  {
    name: 'POST /api/leases/:id/heartbeat',
    async setup() {
      const { v: owner, lease } = await freshLease();
      const path = `/api/leases/${lease.leaseId}/heartbeat`;
      return {
        base: { leaseToken: lease.leaseToken, step: 10, loss: 3.2 },
        send: async (text) => ({ path, res: await owner.post(path, null, { raw: text }) }),
      };
    },
  },
  {
    name: 'POST /api/results',
    async setup() {
      const { v: owner, lease } = await freshLease();
      return {
        base: { result: resultPayload(lease), signature: SIGNATURE_SLOT },
        send: async (text) => {
          const res = await owner.post('/api/results', null, {
            raw: await resign(text, 'result', owner.keys),
          });
          return { path: '/api/results', res };
        },
      };
    },
  },
  {
    // The same with the spec beside the result: its checks before any D1 call, then one batch.
    name: 'POST /api/results with its spec',
    async setup() {
      const { v: owner, lease } = await freshLease();
      return {
        base: { result: resultPayload(lease), signature: SIGNATURE_SLOT, spec: lease.spec },
        send: async (text) => {
          const res = await owner.post('/api/results', null, {
            raw: await resign(text, 'result', owner.keys),
          });
          return { path: '/api/results', res };
        },
      };
    },
  },
  {
    name: 'POST /api/campaigns',
    async setup() {
      const headers = {
        authorization: `Bearer ${RESEARCHER_TOKEN}`,
        'content-type': 'application/json',
      };
      return {
        base: BRIEF,
        send: async (text) => ({
          path: '/api/campaigns',
          res: await api('/api/campaigns', { method: 'POST', headers, body: text }),
        }),
      };
    },
  },
];

describe('valid requests with edits anywhere in their JSON', () => {
  it.each(EDITED)(
    '$name: the unedited request succeeds, and every edit is judged safely',
    async (route) => {
      // Without this, a broken fixture (say, a bad inner signature) would make every run a refusal.
      const unedited = await route.setup();
      const ok = await unedited.send(applyEdits(unedited.base, []));
      expect(ok.res.status, await ok.res.clone().text()).toBeLessThan(300);
      await fc.assert(
        fc.asyncProperty(edits(unedited.base), async (list) => {
          const { base, send: sendText } = await route.setup();
          const text = applyEdits(base, list);
          const was = await before();
          const { path, res } = await sendText(text);
          await check('POST', path, res, was);
        }),
      );
    },
  );
});

describe('every field, one at a time', () => {
  // Raw JSON literals, so that -0 and the overflow 1e999 reach the edge as written.
  // prettier-ignore
  const EXTREMES = ['0', '-0', '-1', '0.5', '2147483647', '2147483648', '9007199254740991', '9007199254740993',
    '5e-324', '1.7976931348623157e308', '-1.7976931348623157e308', '1e999'];

  // Twins pass the schema, so each reaches the check behind it (signature, lease, hash, budget);
  // extremes probe the schema's bounds and whatever handles the numbers it lets through.
  it.each(EDITED)(
    '$name: each field as a twin, and each number at every extreme, is judged safely',
    async (route) => {
      let fixture = await route.setup();
      const sweep: Edit[] = [
        ...leafPaths(fixture.base).map((path) => ({
          path,
          kind: 'twin' as const,
          noise: [1, 2, 3],
        })),
        ...numberPaths(fixture.base).flatMap((path) =>
          EXTREMES.map((token) => ({ path, kind: 'raw' as const, token })),
        ),
      ];
      for (const edit of sweep) {
        const was = await before();
        const sent = await fixture.send(applyEdits(fixture.base, [edit]));
        const code = await check('POST', sent.path, sent.res, was);
        if (code === null) fixture = await route.setup(); // a success may use up its lease
      }
    },
  );
});

describe('signature headers', () => {
  const VOLUNTEER = [
    'valid',
    'missing',
    'empty',
    'other',
    'unregistered',
    'malformed',
    'uppercase',
  ] as const;
  // prettier-ignore
  const TIMESTAMP = ['valid', 'missing', 'empty', 'past', 'future', 'zero', 'negative', 'NaN', 'Infinity', '-0', '1e308', 'fraction', 'text', 'shifted'] as const;
  // prettier-ignore
  const SIGNATURE = ['valid', 'missing', 'empty', 'zeros', 'random', 'other body', 'other key', 'truncated', 'padded', 'not base64url'] as const;

  /** Each header is right half of the time, so single faults and full successes are common. */
  function mostlyValid<T extends string>(options: readonly T[]): fc.Arbitrary<T> {
    return fc.oneof(fc.constant(options[0]!), fc.constantFrom(...options.slice(1)));
  }

  /** The refusal each combination is owed, in the order auth.ts checks; null for success. */
  function expected(
    vol: (typeof VOLUNTEER)[number],
    ts: (typeof TIMESTAMP)[number],
    sig: (typeof SIGNATURE)[number],
  ): string | null {
    if ([vol, ts, sig].some((x) => x === 'missing' || x === 'empty')) return 'missing_signature';
    if (vol === 'malformed' || vol === 'uppercase') return 'unknown_volunteer';
    if (ts !== 'valid' && ts !== 'shifted') return 'stale_timestamp';
    if (vol === 'unregistered') return 'unknown_volunteer';
    // The other volunteer's id with the other volunteer's own signature is an honest request too.
    const matching =
      (vol === 'valid' && sig === 'valid') || (vol === 'other' && sig === 'other key');
    return matching && ts === 'valid' ? null : 'bad_signature';
  }

  it('only the right volunteer, a fresh timestamp and a matching signature together get through', async () => {
    const other = await newVolunteer('other');
    const path = '/api/leases';
    const text = JSON.stringify({ capabilities: { backend: 'wasm' } });
    const random = fc.stringMatching(/^[A-Za-z0-9_-]{86}$/);
    await fc.assert(
      fc.asyncProperty(
        mostlyValid(VOLUNTEER),
        mostlyValid(TIMESTAMP),
        mostlyValid(SIGNATURE),
        random,
        async (vol, ts, sig, noise) => {
          const now = nextTimestamp();
          const signature = async (by: TestVolunteer, t: string) =>
            (await signedHeaders(v.id, by.keys, 'POST', path, t, now))['x-tabgrid-signature']!;
          const good = await signature(v, text);
          const values = {
            'x-tabgrid-volunteer': {
              valid: v.id,
              missing: undefined,
              empty: '',
              other: other.id,
              unregistered: `v_${'0'.repeat(32)}`,
              malformed: 'v_xyz',
              uppercase: v.id.toUpperCase(),
            }[vol],
            'x-tabgrid-timestamp': {
              valid: String(now),
              missing: undefined,
              empty: '',
              past: String(now - MAX_CLOCK_SKEW_MS - 60_000),
              future: String(now + MAX_CLOCK_SKEW_MS + 60_000),
              zero: '0',
              negative: '-1',
              NaN: 'NaN',
              Infinity: 'Infinity',
              '-0': '-0',
              '1e308': '1e308',
              fraction: `${now}.5`,
              text: 'yesterday',
              shifted: String(now + 1),
            }[ts],
            'x-tabgrid-signature': {
              valid: good,
              missing: undefined,
              empty: '',
              zeros: 'A'.repeat(86),
              random: noise,
              'other body': await signature(v, `${text} `),
              'other key': await signature(other, text),
              truncated: good.slice(0, 85),
              padded: `${good}==`,
              'not base64url': '+'.repeat(86),
            }[sig],
          };
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          for (const [k, value] of Object.entries(values))
            if (value !== undefined) headers[k] = value;
          const was = await before();
          const res = await api(path, { method: 'POST', headers, body: text });
          expect(await check('POST', path, res, was)).toBe(expected(vol, ts, sig));
        },
      ),
    );
  });
});

describe('registration timestamps', () => {
  it('are accepted within five minutes of the edge clock and refused outside', async () => {
    const nearEdge = fc.integer({
      min: MAX_CLOCK_SKEW_MS - 60_000,
      max: MAX_CLOCK_SKEW_MS + 60_000,
    });
    const offset = fc.oneof(
      fc.integer({ min: -1e13, max: 1e13 }),
      fc.integer({ min: -MAX_CLOCK_SKEW_MS, max: MAX_CLOCK_SKEW_MS }),
      fc.tuple(fc.constantFrom(-1, 1), nearEdge).map(([sign, n]) => sign * n),
    );
    const absolute = fc.constantFrom(0, -1, 1, 2 ** 53, Number.MAX_VALUE, 0.5);
    const when = fc.oneof(
      offset.map((o) => ({ o })),
      absolute.map((t) => ({ t })),
    );
    await fc.assert(
      fc.asyncProperty(when, async (w) => {
        const now = Date.now();
        const timestamp = 'o' in w ? now + w.o : w.t;
        // Two seconds either side of the window's edge would make the verdict depend on timing.
        fc.pre(Math.abs(Math.abs(now - timestamp) - MAX_CLOCK_SKEW_MS) > 2000);
        const keys = await generateSigningKey();
        const payload = {
          type: 'register',
          publicKey: await exportPublicKey(keys.publicKey),
          timestamp,
        };
        const text = JSON.stringify({
          payload,
          signature: await signCanonical(keys.privateKey, payload),
        });
        const was = await before();
        const res = await send('POST', '/api/volunteers', { type: 'application/json', body: text });
        const wellFormed = Number.isSafeInteger(timestamp) && timestamp > 0;
        const stale = Math.abs(now - timestamp) > MAX_CLOCK_SKEW_MS;
        expect(await check('POST', '/api/volunteers', res, was)).toBe(
          !wellFormed ? 'invalid_request' : stale ? 'stale_timestamp' : null,
        );
      }),
    );
  });
});

describe('researcher tokens', () => {
  it('only the exact bearer token creates a campaign', async () => {
    const text = JSON.stringify({ ...BRIEF, name: 'Depth sweep' });
    const header = fc.oneof(
      fc.constantFrom(undefined, `Bearer ${RESEARCHER_TOKEN}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{20,100}$/).map((t) => `Bearer ${t}`),
      fc
        .constantFrom('bearer ', 'Bearer  ', 'Token ', 'Basic ', '')
        .map((s) => s + RESEARCHER_TOKEN),
      fc
        .constantFrom(
          RESEARCHER_TOKEN.slice(0, -1),
          `${RESEARCHER_TOKEN}=`,
          RESEARCHER_TOKEN.toUpperCase(),
        )
        .map((t) => `Bearer ${t}`),
      headerText,
    );
    await fc.assert(
      fc.asyncProperty(header, async (authorization) => {
        const headers = {
          'content-type': 'application/json',
          ...(authorization !== undefined && { authorization }),
        };
        const was = await before();
        const res = await api('/api/campaigns', { method: 'POST', headers, body: text });
        // The contract (researcher-auth.ts): exactly `Bearer <20–100 of [A-Za-z0-9_-]>`, and the right one.
        const token = /^Bearer ([A-Za-z0-9_-]{20,100})$/.exec(authorization ?? '')?.[1];
        expect(await check('POST', '/api/campaigns', res, was)).toBe(
          !token ? 'missing_token' : token === RESEARCHER_TOKEN ? null : 'bad_token',
        );
      }),
    );
  });
});
