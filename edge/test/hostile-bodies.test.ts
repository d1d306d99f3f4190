// A hostile client, case by case (2/2): impossible metrics, oversized or mistyped bodies, missing
// researcher tokens, unknown routes and what refusals quote. Each is refused with a 4xx and a
// stable code, and leaves every table as it was (refusals.ts); hostile-auth.test.ts has forged,
// replayed and misdirected requests.
import { beforeEach, describe, expect, it } from 'vitest';
import { sha256, signCanonical } from '../../shared/crypto.ts';
import type { Lease } from '../../shared/protocol.ts';
import { MAX_BODY_BYTES } from '../src/body.ts';
import {
  api,
  json,
  newVolunteer,
  RESEARCHER_TOKEN,
  readRefusal,
  resultPayload,
  seedCampaign,
  seedResearcher,
  type TestVolunteer,
} from './helpers.ts';
import { expectRefused, signedInit } from './refusals.ts';

const LEASE_BODY = JSON.stringify({ capabilities: { backend: 'wasm' } });

/** `body` POSTed to `path`, signed by `vol` (its content type `type`). */
async function postSigned(
  vol: TestVolunteer,
  path: string,
  body: string,
  type?: string,
): Promise<Response> {
  return api(path, await signedInit(vol, path, body, type));
}

/** A result's body, `result` signed by the volunteer `v`. */
async function signedResult(result: object): Promise<string> {
  return JSON.stringify({ result, signature: await signCanonical(v.keys.privateKey, result) });
}

let v: TestVolunteer;
beforeEach(async () => {
  await seedResearcher();
  await seedCampaign('c1', 3);
  v = await newVolunteer('v');
});

describe('impossible metrics', () => {
  /** A result whose `field` is replaced by raw JSON text; re-signed whenever the text still parses. */
  async function resultWithRaw(lease: Lease, field: string, raw: string): Promise<Response> {
    const result = resultPayload(lease);
    const signature = await signCanonical(v.keys.privateKey, result);
    const text = JSON.stringify({ result, signature }).replace(
      new RegExp(`"${field}":(\\[[^\\]]*\\]|[^,}]+)`),
      `"${field}":${raw}`,
    );
    let resigned = text;
    try {
      const parsed = JSON.parse(text) as { result: unknown };
      resigned = text.replace(signature, await signCanonical(v.keys.privateKey, parsed.result));
    } catch {
      // Not JSON, or not representable (Infinity): the refusal comes before the signature check.
    }
    return v.post('/api/results', null, { raw: resigned });
  }

  it.each([
    ['valBpb = 1e999', 'valBpb', '1e999', 'invalid_request'], // JSON.parse reads an overflowing literal as Infinity
    ['valBpb = -1e999', 'valBpb', '-1e999', 'invalid_request'],
    ['valBpb = Infinity', 'valBpb', 'Infinity', 'invalid_json'],
    ['valBpb = 0', 'valBpb', '0', 'invalid_request'],
    ['valBpb = -0', 'valBpb', '-0', 'invalid_request'],
    ['valBpb = 64.5', 'valBpb', '64.5', 'invalid_request'],
    ['valBpb = "3.1"', 'valBpb', '"3.1"', 'invalid_request'],
    ['valLoss = -2', 'valLoss', '-2', 'invalid_request'],
    ['valLoss = NaN', 'valLoss', 'NaN', 'invalid_json'],
    ['curve = [3,-1]', 'curve', '[3,-1]', 'invalid_request'],
    ['curve = [1e999]', 'curve', '[1e999]', 'invalid_request'],
    ['curve = []', 'curve', '[]', 'invalid_request'],
    ['a curve of 1,001 points', 'curve', `[${Array(1001).fill(1).join(',')}]`, 'invalid_request'],
    ['steps = -10', 'steps', '-10', 'invalid_request'],
    ['steps = 1.5', 'steps', '1.5', 'invalid_request'],
    ['steps = 9007199254740993', 'steps', '9007199254740993', 'invalid_request'],
    ['tokens = 0', 'tokens', '0', 'invalid_request'],
    ['wallMs = -1', 'wallMs', '-1', 'invalid_request'],
    ['msPerStep = 1e999', 'msPerStep', '1e999', 'invalid_request'],
    ['backend = "tpu"', 'backend', '"tpu"', 'invalid_request'],
  ])('refuses a result with %s', async (_name, field, raw, code) => {
    const lease = (await v.lease())!;
    // Refused before the result's guarded batch, so not remembered (auth.ts guardedBatch).
    await expectRefused(() => resultWithRaw(lease, field, raw), 400, code, 'untouched');
  });

  it.each([
    ['loss', '1e999', 'invalid_request'],
    ['loss', 'NaN', 'invalid_json'],
    ['loss', '-0.5', 'invalid_request'],
    ['loss', '65', 'invalid_request'],
    ['step', '-1', 'invalid_request'],
    ['step', '2.5', 'invalid_request'],
    ['step', '1e308', 'invalid_request'],
  ])('refuses a heartbeat with %s = %s', async (field, raw, code) => {
    const lease = (await v.lease())!;
    const text = JSON.stringify({ leaseToken: lease.leaseToken, step: 1, loss: 3 }).replace(
      new RegExp(`"${field}":[^,}]+`),
      `"${field}":${raw}`,
    );
    await expectRefused(
      () => v.post(`/api/leases/${lease.leaseId}/heartbeat`, null, { raw: text }),
      400,
      code,
      'untouched', // refused before the heartbeat's guarded batch (auth.ts guardedBatch)
    );
  });
});

describe('bodies over the size limit', () => {
  /** A lease request padded with an unknown field to exactly `bytes` bytes of UTF-8. */
  function padded(bytes: number, char = 'x'): string {
    const shell = JSON.stringify({ capabilities: { backend: 'wasm' }, pad: '' });
    const width = new TextEncoder().encode(char).length;
    return shell.replace(
      '"pad":""',
      `"pad":"${char.repeat(Math.floor((bytes - shell.length) / width))}${'x'.repeat((bytes - shell.length) % width)}"`,
    );
  }

  it('refuses a signed body one byte over the limit before remembering its signature', async () => {
    const body = padded(MAX_BODY_BYTES + 1);
    expect(new TextEncoder().encode(body).length).toBe(MAX_BODY_BYTES + 1);
    await expectRefused(() => postSigned(v, '/api/leases', body), 413, 'payload_too_large');
  });

  it('reads a body of exactly the limit (and refuses its unknown field)', async () => {
    const body = padded(MAX_BODY_BYTES);
    expect(new TextEncoder().encode(body).length).toBe(MAX_BODY_BYTES);
    await expectRefused(
      () => postSigned(v, '/api/leases', body),
      400,
      'invalid_request',
      'untouched', // refused before the lease request's guard is recorded (auth.ts, routes/leases.ts)
    );
  });

  it('counts bytes, not characters', async () => {
    const body = padded(MAX_BODY_BYTES + 3, '€'); // 3 bytes a character: about 21,800 characters
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    await expectRefused(() => postSigned(v, '/api/leases', body), 413, 'payload_too_large');
  });

  it('refuses an oversized result and an oversized campaign brief', async () => {
    const lease = (await v.lease())!;
    const body = await signedResult({ ...resultPayload(lease), pad: 'x'.repeat(MAX_BODY_BYTES) });
    await expectRefused(() => postSigned(v, '/api/results', body), 413, 'payload_too_large');
    const brief = {
      name: 'Huge',
      brief: 'x'.repeat(MAX_BODY_BYTES),
      template: 'gpt-char',
      datasetId: 'test',
      searchSpace: {},
      experiments: 1,
      steps: 10,
      seed: 1,
    };
    await expectRefused(
      () => api('/api/campaigns', json(brief, { authorization: `Bearer ${RESEARCHER_TOKEN}` })),
      413,
      'payload_too_large',
    );
  });
});

describe('wrong content types', () => {
  it.each([
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonx',
    '',
  ])('refuses a signed lease request sent as "%s"', async (type) => {
    const init = await signedInit(v, '/api/leases', LEASE_BODY, type);
    await expectRefused(() => api('/api/leases', init), 415, 'unsupported_media_type');
  });

  it('refuses a result and a campaign brief without a JSON content type', async () => {
    const lease = (await v.lease())!;
    const body = await signedResult(resultPayload(lease));
    await expectRefused(
      () => postSigned(v, '/api/results', body, 'text/plain'),
      415,
      'unsupported_media_type',
    );
    await expectRefused(
      () =>
        api('/api/campaigns', {
          method: 'POST',
          headers: { authorization: `Bearer ${RESEARCHER_TOKEN}` },
          body: '{}',
        }),
      415,
      'unsupported_media_type',
    );
  });
});

describe('researcher routes', () => {
  const brief = {
    name: 'Width sweep',
    brief: 'Does width matter for a tiny model?',
    template: 'gpt-char',
    datasetId: 'test',
    searchSpace: { nEmbd: { kind: 'choice', values: [32, 64] } },
    experiments: 2,
    steps: 50,
    seed: 3,
  };

  it('admits the right token (the refusals below are about the token alone)', async () => {
    expect(
      (await api('/api/campaigns', json(brief, { authorization: `Bearer ${RESEARCHER_TOKEN}` })))
        .status,
    ).toBe(201);
  });

  it.each([
    ['a Basic credential', () => `Basic ${btoa(`r_test:${RESEARCHER_TOKEN}`)}`, 'missing_token'],
    ['a token over 100 characters', () => `Bearer ${'a'.repeat(101)}`, 'missing_token'],
    ['two tokens', () => `Bearer ${RESEARCHER_TOKEN}, Bearer ${RESEARCHER_TOKEN}`, 'missing_token'],
    ['the token with one more character', () => `Bearer ${RESEARCHER_TOKEN}x`, 'bad_token'],
    ['the token in upper case', () => `Bearer ${RESEARCHER_TOKEN.toUpperCase()}`, 'bad_token'],
  ])('refuses %s', async (_name, header, code) => {
    await expectRefused(
      () => api('/api/campaigns', json(brief, { authorization: header() })),
      401,
      code,
    );
  });

  it('refuses the stored token hash presented as a token', async () => {
    const leaked = await sha256(RESEARCHER_TOKEN); // what a copy of the database would reveal
    await expectRefused(
      () => api('/api/campaigns', json(brief, { authorization: `Bearer ${leaked}` })),
      401,
      'bad_token',
    );
  });

  it('refuses a token in the query string, and a volunteer signature instead of a token', async () => {
    await expectRefused(
      () => api(`/api/campaigns?token=${RESEARCHER_TOKEN}`, json(brief)),
      401,
      'missing_token',
    );
    const body = JSON.stringify(brief);
    await expectRefused(() => postSigned(v, '/api/campaigns', body), 401, 'missing_token');
  });
});

describe('unknown routes', () => {
  it('refuses a path with encoded control characters without echoing them decoded', async () => {
    await expectRefused(() => api('/api/%0Aadmin%0D%00'), 404, 'not_found');
  });
});

describe('refusal messages', () => {
  // Found by the fuzzer: zod names an unrecognized key in its message, newline and all.
  it('escape the control characters of a key they name, and stay one sentence on one line', async () => {
    const v = await newVolunteer();
    const body = JSON.stringify({ capabilities: { backend: 'wasm' }, '\n\u2028\u0000': 1 });
    await expectRefused(
      () => postSigned(v, '/api/leases', body),
      400,
      'invalid_request',
      'untouched', // refused before the lease request's guard is recorded (auth.ts, routes/leases.ts)
    );
    const again = JSON.stringify({ capabilities: { backend: 'wasm' }, ['k'.repeat(5000)]: 1 });
    const res = await postSigned(v, '/api/leases', again);
    expect((await readRefusal(res)).message.length).toBeLessThan(400);
  });
});
