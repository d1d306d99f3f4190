// Tests a campaign page's live state: the snapshot read on connect, hub events applied in order
// (an event older than the progress shown is dropped), and a dropped socket reconnecting with
// backoff and reading the snapshot again.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type * as P from '../../../shared/protocol.ts';
import type { ExperimentSpec } from '../../../shared/spec.ts';
import { CampaignLive } from './campaign-live.svelte.ts';

/**
 * The browser's WebSocket as the page uses it (Node's client needs a server speaking the hub's
 * protocol): the test opens, feeds and drops each socket the page makes.
 */
class HubSocket {
  static readonly OPEN = 1;
  static made: HubSocket[] = [];
  readyState = 0;
  closedWith: [number | undefined, string | undefined] | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  readonly url: string;
  constructor(url: string) {
    this.url = url;
    HubSocket.made.push(this);
  }
  send(): void {}
  close(code?: number, reason?: string): void {
    this.closedWith = [code, reason];
  }
  open(): void {
    this.readyState = HubSocket.OPEN;
    this.onopen?.();
  }
  event(e: P.LiveEvent): void {
    this.onmessage?.({ data: JSON.stringify(e) });
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.();
  }
}

const spec: ExperimentSpec = {
  template: 'gpt-char',
  dataset: { id: 'tiny', sha256: 'a'.repeat(64) },
  model: { nLayer: 1, nHead: 1, nEmbd: 8, blockSize: 8, vocabSize: 10, bias: false, dropout: 0 },
  train: {
    steps: 10,
    batchSize: 1,
    lr: 1e-3,
    minLr: 1e-4,
    warmupSteps: 0,
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-8,
    weightDecay: 0,
    gradClip: 1,
    curveEvery: 5,
  },
  seed: 1,
  evalWindows: 1,
};

const campaign: P.Campaign = {
  id: 'c1',
  name: 'tiny',
  brief: 'b',
  template: 'gpt-char',
  datasetId: 'tiny',
  createdAt: 0,
  experiments: 10,
  verified: 0,
};

function progress(updatedAt: number, verified = 0): P.CampaignProgress {
  return {
    experiments: 10,
    queued: 10 - verified,
    running: 0,
    awaitingReplica: 0,
    verified,
    disputed: 0,
    remainingTokens: 0,
    fleet: { volunteers: 0, tokensPerSec: 0 },
    etaSeconds: null,
    updatedAt,
  };
}

function row(experimentId: string, valBpb: number, idx: number): P.LeaderboardEntry {
  return {
    experimentId,
    valBpb,
    idx,
    config: spec,
    verified: true,
    replicas: 2,
    backends: ['wasm'],
    engines: ['chromium'],
    volunteers: ['v_a', 'v_b'],
    verifiedAt: 0,
    spread: 0,
    results: 2,
    wallMs: 1,
  };
}
const curve = (experimentId: string, valBpb: number): P.ExperimentCurve => ({
  experimentId,
  valBpb,
  curveEvery: 5,
  curve: [3, valBpb],
});

function verified(experimentId: string, valBpb: number, idx: number, at: number): P.LiveEvent {
  return {
    type: 'verified',
    campaignId: 'c1',
    row: row(experimentId, valBpb, idx),
    curve: curve(experimentId, valBpb),
    progress: progress(at),
  };
}

const snapshot = (updatedAt: number, verifiedCount = 0): P.CampaignSnapshot => ({
  campaign: { ...campaign, verified: verifiedCount },
  progress: progress(updatedAt, verifiedCount),
  rows: [],
  leaders: [],
  lineages: [],
  strategy: null,
});

/** The edge's snapshot answers, in order; each read waits for `release` when `hold` is set. */
let answers: (P.CampaignSnapshot | number)[];
let reads: string[];
let hold: Promise<void> | null;

const settle = () => vi.advanceTimersByTimeAsync(0);
const lastSocket = (): HubSocket => HubSocket.made.at(-1)!;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  vi.spyOn(Math, 'random').mockReturnValue(1); // no jitter: delays are exactly the backoff
  HubSocket.made = [];
  answers = [];
  reads = [];
  hold = null;
  vi.stubGlobal('WebSocket', HubSocket);
  vi.stubGlobal('fetch', async (input: RequestInfo | URL) => {
    reads.push(String(input));
    if (hold) await hold;
    const next = answers.shift() ?? 503;
    return typeof next === 'number'
      ? new Response(JSON.stringify({ error: 'down', message: 'The edge is down.' }), {
          status: next,
        })
      : new Response(JSON.stringify(next), { status: 200 });
  });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

async function connected(first: P.CampaignSnapshot): Promise<CampaignLive> {
  answers.push(first);
  const live = new CampaignLive('c1');
  live.start();
  lastSocket().open();
  await settle();
  return live;
}

describe('connecting', () => {
  test("opens the campaign's live socket, then reads the snapshot", async () => {
    const live = await connected(snapshot(1000, 2));
    expect(lastSocket().url).toBe('ws://localhost:8787/api/campaigns/c1/live');
    expect(reads).toEqual(['/api/campaigns/c1/snapshot']);
    expect(live.status).toBe('live');
    expect(live.campaign?.verified).toBe(2);
    expect(live.progress?.updatedAt).toBe(1000);
    live.stop();
  });

  test('a socket that never opens still shows the snapshot', async () => {
    answers.push(snapshot(1000));
    const live = new CampaignLive('c1');
    live.start();
    lastSocket().drop();
    await settle();
    expect(live.status).toBe('reconnecting');
    expect(live.campaign?.id).toBe('c1');
    live.stop();
  });

  test("a failed snapshot shows the edge's sentence; the next one clears it", async () => {
    answers.push(503);
    const live = new CampaignLive('c1');
    live.start();
    lastSocket().open();
    await settle();
    expect(live.error).toBe('The edge is down.');
    answers.push(snapshot(1000));
    lastSocket().drop();
    await vi.advanceTimersByTimeAsync(500);
    lastSocket().open();
    await settle();
    expect(live.error).toBeNull();
    live.stop();
  });
});

describe('events', () => {
  test('drops an event older than the progress shown, applies a newer one', async () => {
    const live = await connected(snapshot(2000, 1));
    lastSocket().event({ type: 'progress', campaignId: 'c1', progress: progress(1000, 0) });
    expect(live.progress?.updatedAt).toBe(2000);
    expect(live.campaign?.verified).toBe(1);
    lastSocket().event({ type: 'progress', campaignId: 'c1', progress: progress(3000, 4) });
    expect(live.progress?.updatedAt).toBe(3000);
    expect(live.campaign?.verified).toBe(4);
    live.stop();
  });

  test("ignores another campaign's events", async () => {
    const live = await connected(snapshot(1000));
    lastSocket().event({ type: 'progress', campaignId: 'c2', progress: progress(5000) });
    expect(live.progress?.updatedAt).toBe(1000);
    live.stop();
  });

  test('a verification ranks its row, replaces an older one, and keeps the best five curves', async () => {
    const live = await connected(snapshot(1000));
    const socket = lastSocket();
    socket.event(verified('e1', 2.0, 1, 1001));
    socket.event(verified('e2', 1.5, 2, 1002));
    socket.event(verified('e3', 2.0, 0, 1003)); // ties with e1 on val_bpb: the lower idx first
    expect(live.rows.map((r) => r.experimentId)).toEqual(['e2', 'e3', 'e1']);
    socket.event(verified('e1', 1.0, 1, 1004)); // e1 again, better: one row, re-ranked
    expect(live.rows.map((r) => r.experimentId)).toEqual(['e1', 'e2', 'e3']);
    for (let i = 4; i <= 8; i++) socket.event(verified(`e${i}`, 2 + i / 10, i, 1000 + i * 10));
    expect(live.leaders.map((l) => l.experimentId)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    expect(live.rows).toHaveLength(8);
    expect(live.lastVerifiedAt).not.toBeNull();
    live.stop();
  });

  test('events that arrive while the snapshot is read are applied after it, older ones dropped', async () => {
    let release = () => {};
    hold = new Promise((r) => (release = r));
    answers.push(snapshot(2000));
    const live = new CampaignLive('c1');
    live.start();
    const socket = lastSocket();
    socket.open();
    socket.event({ type: 'progress', campaignId: 'c1', progress: progress(1500, 7) });
    socket.event(verified('e1', 1.0, 0, 2500));
    expect(live.progress).toBeNull(); // held, not applied to nothing
    release();
    await settle();
    expect(live.progress?.updatedAt).toBe(2500);
    expect(live.campaign?.verified).toBe(0); // 1500's "7 verified" was older than the snapshot
    expect(live.rows.map((r) => r.experimentId)).toEqual(['e1']);
    live.stop();
  });
});

describe('reconnecting', () => {
  test('a drop reconnects after a backoff and reads the snapshot again', async () => {
    const live = await connected(snapshot(1000, 1));
    lastSocket().drop();
    expect(live.status).toBe('reconnecting');
    answers.push(snapshot(5000, 6)); // what happened while away
    await vi.advanceTimersByTimeAsync(499);
    expect(HubSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(HubSocket.made).toHaveLength(2);
    lastSocket().open();
    await settle();
    expect(reads).toHaveLength(2);
    expect(live.status).toBe('live');
    expect(live.progress?.updatedAt).toBe(5000);
    expect(live.campaign?.verified).toBe(6);
    live.stop();
  });

  test('the backoff doubles while connecting fails, up to 30 s, and resets once open', async () => {
    const live = await connected(snapshot(1000));
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const before = HubSocket.made.length;
      lastSocket().drop();
      let waited = 0;
      while (HubSocket.made.length === before) {
        await vi.advanceTimersByTimeAsync(250);
        waited += 250;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    answers.push(snapshot(2000));
    lastSocket().open();
    await settle();
    lastSocket().drop();
    await vi.advanceTimersByTimeAsync(500);
    expect(HubSocket.made).toHaveLength(10);
    live.stop();
  });

  test('stop while waiting to reconnect cancels the retry', async () => {
    const live = await connected(snapshot(1000));
    lastSocket().drop();
    live.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(HubSocket.made).toHaveLength(1);
  });

  test('stop closes the socket and never reconnects', async () => {
    const live = await connected(snapshot(1000));
    const socket = lastSocket();
    live.stop();
    expect(socket.closedWith).toEqual([1000, 'page closed']);
    socket.drop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(HubSocket.made).toHaveLength(1);
  });
});
