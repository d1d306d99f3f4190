// Tests the outbox against a real (in-memory) IndexedDB: a result is stored before it is sent and
// deleted only once the edge has answered; a final 4xx drops it, 5xx/408/429/offline keep it.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  exportPublicKey,
  generateSigningKey,
  sha256,
  signCanonical,
  verifyCanonical,
  volunteerIdFor,
} from '../../../shared/crypto.ts';
import {
  SIGNATURE_HEADERS,
  signedRequestPayload,
  type ApiError,
  type ResultResponse,
} from '../../../shared/protocol.ts';
import { commitKey, openStore, type OutboxEntry, type StoredIdentity } from './db.ts';
import { enqueue, flushOutbox, flushReveals, pendingCount } from './outbox.ts';

/** One request as it reached the edge, with what the outbox held at that moment. */
interface Sent {
  method: string;
  path: string;
  headers: Headers;
  body: string | Uint8Array;
  queued: string[];
}

let identity: StoredIdentity;
let sent: Sent[];

/** Routes fetch to `answer`: the edge's reply for a path, or a thrown TypeError for offline. */
function edgeAnswers(answer: (path: string) => Response): void {
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const queued = await (await openStore()).getAllKeys('outbox');
    const body = init.body instanceof Uint8Array ? init.body : String(init.body);
    const path = String(input);
    sent.push({
      method: init.method ?? 'GET',
      path,
      headers: new Headers(init.headers),
      body,
      queued,
    });
    return answer(path);
  });
}

const json = (status: number, body: object) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const accepted = (leaseId: string, extra: Partial<ResultResponse> = {}) =>
  json(200, {
    resultId: `r-${leaseId}`,
    duplicate: false,
    experimentStatus: 'open',
    ...extra,
  } satisfies ResultResponse);
const refused = (status: number, message = 'refused') =>
  json(status, { error: 'refused', message } satisfies ApiError);
const offline = (): Response => {
  throw new TypeError('Failed to fetch');
};

async function resultEntry(leaseId: string): Promise<Omit<OutboxEntry, 'createdAt'>> {
  const result = {
    type: 'result' as const,
    leaseId,
    leaseToken: 'token-0123456789abcdef',
    experimentId: `e-${leaseId}`,
    specHash: 'a'.repeat(64),
    datasetSha256: 'b'.repeat(64),
    metrics: {
      valBpb: 2.5,
      valLoss: 1.7,
      curve: [3, 2.5, 2],
      steps: 3,
      tokens: 96,
      backend: 'wasm' as const,
      wallMs: 1000,
      msPerStep: 300,
    },
  };
  return {
    leaseId,
    experimentId: result.experimentId,
    request: { result, signature: await signCanonical(identity.keys.privateKey, result) },
  };
}

/** Enqueues at a given clock time, so that the order of creation is known. */
async function enqueueAt(t: number, entry: Omit<OutboxEntry, 'createdAt'>): Promise<void> {
  vi.setSystemTime(t);
  await enqueue(entry);
}

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  const keys = await generateSigningKey();
  const publicKey = await exportPublicKey(keys.publicKey);
  identity = { volunteerId: await volunteerIdFor(publicKey), publicKey, keys };
  sent = [];
  const store = await openStore();
  for (const name of ['outbox', 'runs', 'commits', 'reveals'] as const) await store.clear(name);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('flushOutbox', () => {
  test('a result is in IndexedDB while it is sent and deleted once the edge accepted it', async () => {
    const entry = await resultEntry('L1');
    await enqueue(entry);
    expect(await pendingCount()).toBe(1);
    edgeAnswers(() => accepted('L1'));

    const deliveries = await flushOutbox(identity);

    expect(sent).toHaveLength(1);
    expect(sent[0]!.queued).toEqual(['L1']); // still stored while on the wire
    expect(sent[0]!.path).toBe('/api/results');
    expect(JSON.parse(String(sent[0]!.body))).toEqual(entry.request);
    expect(deliveries).toEqual([
      expect.objectContaining({
        delivered: true,
        response: expect.objectContaining({ resultId: 'r-L1' }),
      }),
    ]);
    expect(await pendingCount()).toBe(0);
  });

  test('the request is signed over method, path, timestamp and the body hash', async () => {
    await enqueue(await resultEntry('L1'));
    edgeAnswers(() => accepted('L1'));
    await flushOutbox(identity);

    const { headers, body, method, path } = sent[0]!;
    expect(headers.get(SIGNATURE_HEADERS.volunteer)).toBe(identity.volunteerId);
    const signed = signedRequestPayload(
      method,
      path,
      Number(headers.get(SIGNATURE_HEADERS.timestamp)),
      await sha256(String(body)),
    );
    const signature = headers.get(SIGNATURE_HEADERS.signature) ?? '';
    expect(await verifyCanonical(identity.publicKey, signature, signed)).toBe(true);
    expect(
      await verifyCanonical(identity.publicKey, signature, { ...signed, path: '/api/x' }),
    ).toBe(false);
  });

  test('a duplicate answer (delivered before, answer lost) also removes it', async () => {
    await enqueue(await resultEntry('L1'));
    edgeAnswers(() => accepted('L1', { duplicate: true }));
    const [delivery] = await flushOutbox(identity);
    expect(delivery?.delivered).toBe(true);
    expect(await pendingCount()).toBe(0);
  });

  test.each([500, 502, 503, 408, 429])(
    '%i keeps the result and every later one, unsent, for the next flush',
    async (status) => {
      await enqueueAt(1000, await resultEntry('L1'));
      await enqueueAt(2000, await resultEntry('L2'));
      edgeAnswers(() => refused(status));

      expect(await flushOutbox(identity)).toEqual([]);
      expect(sent.map((s) => s.path)).toHaveLength(1); // stopped at the first: order is kept
      expect(await pendingCount()).toBe(2);

      edgeAnswers((path) => (path === '/api/results' ? accepted('x') : refused(404)));
      expect(await flushOutbox(identity)).toHaveLength(2);
      expect(await pendingCount()).toBe(0);
    },
  );

  test('offline (fetch rejects) keeps everything', async () => {
    await enqueue(await resultEntry('L1'));
    edgeAnswers(offline);
    expect(await flushOutbox(identity)).toEqual([]);
    expect(await pendingCount()).toBe(1);
  });

  test.each([400, 401, 403, 404, 409, 410, 422])(
    '%i is final: the result is dropped with the edge sentence, and the next one is sent',
    async (status) => {
      await enqueueAt(1000, await resultEntry('L1'));
      await enqueueAt(2000, await resultEntry('L2'));
      let calls = 0;
      edgeAnswers(() =>
        calls++ === 0 ? refused(status, 'The lease has expired.') : accepted('L2'),
      );

      const deliveries = await flushOutbox(identity);

      expect(deliveries).toEqual([
        expect.objectContaining({ delivered: false, refused: 'The lease has expired.' }),
        expect.objectContaining({ delivered: true }),
      ]);
      expect(deliveries[0]!.entry.leaseId).toBe('L1');
      expect(await pendingCount()).toBe(0);
    },
  );

  test('sends oldest first, whatever the keys order', async () => {
    await enqueueAt(3000, await resultEntry('A'));
    await enqueueAt(1000, await resultEntry('C'));
    await enqueueAt(2000, await resultEntry('B'));
    edgeAnswers(() => accepted('x'));
    const deliveries = await flushOutbox(identity);
    expect(deliveries.map((d) => d.entry.leaseId)).toEqual(['C', 'B', 'A']);
    expect(sent.map((s) => s.queued.length)).toEqual([3, 2, 1]); // each deleted only after its answer
  });

  test('one result per lease: enqueueing again replaces it', async () => {
    await enqueue(await resultEntry('L1'));
    await enqueue(await resultEntry('L1'));
    expect(await pendingCount()).toBe(1);
  });

  test('one flush at a time: a second call shares the first, nothing is sent twice', async () => {
    await enqueue(await resultEntry('L1'));
    edgeAnswers(() => accepted('L1'));
    const [a, b] = await Promise.all([flushOutbox(identity), flushOutbox(identity)]);
    expect(a).toBe(b);
    expect(sent).toHaveLength(1);
  });

  test("a spot check's result goes to its own path, and a reveal it asks for is remembered", async () => {
    const result = {
      type: 'spot-check' as const,
      leaseId: 'S1',
      leaseToken: 'token-0123456789abcdef',
      specHash: 'a'.repeat(64),
      curve: [2.5],
    };
    await enqueue({
      leaseId: 'S1',
      experimentId: 'e1',
      path: '/api/spot-checks/sc1/result',
      request: { result, signature: await signCanonical(identity.keys.privateKey, result) },
    });
    await enqueue(await resultEntry('L2'));
    const reveal = { spotCheckId: 'sc9', step: 100, path: '/api/spot-checks/sc9/checkpoint' };
    const checkpoint = { step: 300, path: '/api/results/r-L2/checkpoint' };
    edgeAnswers((path) =>
      path === '/api/spot-checks/sc1/result'
        ? json(200, { spotCheckId: 'sc1', duplicate: false })
        : accepted('L2', { reveal, checkpoint }),
    );

    await flushOutbox(identity);

    expect(sent.map((s) => s.path).sort()).toEqual(['/api/results', '/api/spot-checks/sc1/result']);
    const reveals = await (await openStore()).getAll('reveals');
    expect(reveals.sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual([
      expect.objectContaining({
        id: 'final:r-L2',
        step: 300,
        path: checkpoint.path,
        leaseId: 'L2',
      }),
      expect.objectContaining({ id: 'sc9', step: 100, path: reveal.path, leaseId: 'L2' }),
    ]);
  });
});

describe('flushReveals', () => {
  const blob = new Uint8Array([1, 2, 3, 4]).buffer;

  async function revealPending(): Promise<void> {
    const store = await openStore();
    await store.put('commits', blob, commitKey('L1', 100));
    await store.put('commits', blob, commitKey('L1', 200));
    await store.put(
      'reveals',
      {
        id: 'sc1',
        leaseId: 'L1',
        step: 100,
        path: '/api/spot-checks/sc1/checkpoint',
        createdAt: 0,
      },
      'sc1',
    );
  }

  test('uploads the asked-for checkpoint, signed, then forgets the reveal and unneeded commits', async () => {
    await revealPending();
    const store = await openStore();
    await store.put('commits', blob, commitKey('L2', 100)); // its result still in the outbox: kept
    await enqueue(await resultEntry('L2'));
    edgeAnswers(() => new Response(null, { status: 204 }));

    await flushReveals(identity);

    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ method: 'PUT', path: '/api/spot-checks/sc1/checkpoint' });
    expect([...(sent[0]!.body as Uint8Array)]).toEqual([1, 2, 3, 4]);
    expect(sent[0]!.headers.get(SIGNATURE_HEADERS.bodySha256)).toBe(
      await sha256(new Uint8Array(blob)),
    );
    expect(await store.count('reveals')).toBe(0);
    expect(await store.getAllKeys('commits')).toEqual([commitKey('L2', 100)]);
  });

  test.each([
    ['500', () => refused(500)],
    ['429', () => refused(429)],
    ['offline', offline],
  ])('%s keeps the reveal and its checkpoints for the next flush', async (_, answer) => {
    await revealPending();
    edgeAnswers(answer);
    await flushReveals(identity);
    const store = await openStore();
    expect(await store.count('reveals')).toBe(1);
    expect(await store.count('commits')).toBe(2);
  });

  test('a final refusal (the spot check expired) drops the reveal and its checkpoints', async () => {
    await revealPending();
    edgeAnswers(() => refused(410));
    await flushReveals(identity);
    const store = await openStore();
    expect(await store.count('reveals')).toBe(0);
    expect(await store.count('commits')).toBe(0);
  });
});
