// Tests what the contribution loop decides before it reaches the training Worker (which needs a
// browser): the outbox count it shows, the time left at the current pace, and a refused start.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { verifyCanonical } from '../../../shared/crypto.ts';
import type { RegisterPayload, RegisterResponse } from '../../../shared/protocol.ts';
import { openStore } from './db.ts';
import { enqueue } from './outbox.ts';
import { Trainer } from './trainer.svelte.ts';

interface Registration {
  payload: RegisterPayload;
  signature: string;
}

let registrations: Registration[];

/** The edge's answer to POST /api/volunteers, given what it was sent. */
function edgeRegisters(answer: (r: Registration) => Response): void {
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init: RequestInit = {}) => {
    expect(String(input)).toBe('/api/volunteers');
    const r = JSON.parse(String(init.body)) as Registration;
    registrations.push(r);
    return answer(r);
  });
}

beforeEach(async () => {
  localStorage.clear();
  registrations = [];
  const store = await openStore();
  for (const name of ['identity', 'outbox'] as const) await store.clear(name);
});

afterEach(() => vi.unstubAllGlobals());

describe('Trainer', () => {
  test('shows how many results wait in the outbox', async () => {
    for (const leaseId of ['L1', 'L2'])
      await enqueue({
        leaseId,
        experimentId: 'e',
        path: '/api/spot-checks/s/result',
        request: {
          result: {
            type: 'spot-check',
            leaseId,
            leaseToken: 'token-0123456789abcdef',
            specHash: 'a'.repeat(64),
            curve: [1],
          },
          signature: 's'.repeat(86),
        },
      });
    const trainer = new Trainer();
    // The count is read from IndexedDB in the background: fake-indexeddb answers after a few ticks.
    await vi.waitFor(() => expect(trainer.pending).toBe(2));
    expect(trainer.running).toBe(false);
  });

  test('time left follows the duty cycle the volunteer set', () => {
    const trainer = new Trainer();
    expect(trainer.secondsLeft).toBeNull();
    trainer.progress = {
      type: 'step',
      step: 100,
      steps: 300,
      loss: 2,
      msPerStep: 50,
      tokensPerSec: 1000,
    };
    expect(trainer.secondsLeft).toBe(10);
    trainer.pacing.setDuty(0.5);
    expect(trainer.secondsLeft).toBe(20);
  });

  test('registers a signed key once made, and keeps it for the next start', async () => {
    edgeRegisters(
      () => new Response(JSON.stringify({ error: 'x', message: 'Down.' }), { status: 400 }),
    );
    const first = new Trainer();
    await first.start('  Ada  ');
    const [r] = registrations;
    expect(r?.payload).toMatchObject({ type: 'register', displayName: 'Ada' });
    expect(await verifyCanonical(r!.payload.publicKey, r!.signature, r!.payload)).toBe(true);

    await new Trainer().start();
    expect(registrations[1]?.payload.publicKey).toBe(r?.payload.publicKey);
    expect(registrations[1]?.payload.displayName).toBe('Ada'); // remembered with the identity
  });

  test("a refused registration stops with the edge's sentence", async () => {
    edgeRegisters(
      () =>
        new Response(JSON.stringify({ error: 'bad_signature', message: 'Bad signature.' }), {
          status: 401,
        }),
    );
    const trainer = new Trainer();
    await trainer.start();
    expect(trainer.phase).toBe('error');
    expect(trainer.error).toBe('Bad signature.');
    expect(trainer.running).toBe(false);
    await trainer.start(); // Start again tries again
    expect(registrations).toHaveLength(2);
  });

  test('an edge that derives another volunteer id is not trusted', async () => {
    edgeRegisters(() =>
      Response.json({
        volunteerId: 'v_' + '0'.repeat(32),
        created: true,
      } satisfies RegisterResponse),
    );
    const trainer = new Trainer();
    await trainer.start();
    expect(trainer.phase).toBe('error');
    expect(trainer.error).toBe('the edge derived another volunteer id');
  });
});
