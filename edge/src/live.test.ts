import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../shared/protocol.ts';
import { verifyNext } from '../test/campaign-fixtures.ts';
import { api, honestMetrics, newVolunteer, readRefusal, seedCampaign } from '../test/helpers.ts';
import { TAU_BPB } from '../../shared/verify.ts';
import { notifyCampaign, PROGRESS_EVERY_MS } from './live.ts';

/** Opens the campaign's live socket through the real app and collects its frames. */
interface Page {
  ws: WebSocket;
  frames: string[];
  next: (n: number) => Promise<string[]>;
  close: () => Promise<void>;
}

async function connect(campaignId: string): Promise<Page> {
  const res = await api(`/api/campaigns/${campaignId}/live`, { headers: { Upgrade: 'websocket' } });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  ws.accept();
  const frames: string[] = [];
  ws.addEventListener('message', (e) => {
    frames.push(e.data as string);
  });
  const next = async (n: number) => {
    for (let i = 0; i < 200 && frames.length < n; i++) await new Promise((r) => setTimeout(r, 5));
    expect(frames.length).toBeGreaterThanOrEqual(n);
    return frames.slice(0, n);
  };
  // Closes and waits for the hub's close frame, so no socket outlives its test.
  const close = () =>
    new Promise<void>((resolve) => {
      ws.addEventListener('close', () => resolve());
      ws.close(1000, 'done');
    });
  return { ws, frames, next, close };
}

describe('GET /api/campaigns/:id/live', () => {
  it('pushes progress on every result and the leaderboard row when an experiment verifies', async () => {
    await seedCampaign('c1', 2);
    const pages = [await connect('c1'), await connect('c1')];
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    const la = (await a.lease('webgpu'))!;
    await a.result(la, honestMetrics(la.spec, 3.0, 'webgpu'));
    const lb = (await b.lease('wasm'))!;
    await b.result(lb, honestMetrics(lb.spec, 3.0 + TAU_BPB / 2, 'wasm'));

    for (const page of pages) {
      const [first, second] = (await page.next(2)).map((f) => JSON.parse(f) as LiveEvent);
      expect(first).toMatchObject({
        type: 'progress',
        campaignId: 'c1',
        progress: { awaitingReplica: 1, verified: 0 },
      });
      if (second?.type !== 'verified')
        throw new Error(`expected a verified event, got ${JSON.stringify(second)}`);
      expect(second.progress).toMatchObject({ verified: 1, awaitingReplica: 0, experiments: 2 });
      expect(second.row).toMatchObject({
        experimentId: 'c1-0',
        replicas: 2,
        valBpb: 3.0 + TAU_BPB / 4,
      });
      expect(second.row.backends.sort()).toEqual(['wasm', 'webgpu']);
      expect(second.curve).toMatchObject({ experimentId: 'c1-0', curveEvery: 10 });
      expect(second.curve.curve).toHaveLength(3);
    }
    await Promise.all(pages.map((p) => p.close()));
  });

  it('keeps campaigns apart', async () => {
    await seedCampaign('c1', 1);
    await seedCampaign('c2', 1);
    const other = await connect('c2');
    const mine = await connect('c1');
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    await verifyNext(a, b, 3, ['wasm', 'wasm'], 'c1');
    await mine.next(2);
    expect(other.frames).toEqual([]);
    await Promise.all([other, mine].map((p) => p.close()));
  });

  it('coalesces progress to one update per second after the response, and sends a verification at once', async () => {
    await seedCampaign('coalesce', 2);
    const page = await connect('coalesce');
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    const verifiedId = await verifyNext(a, b, 3, ['wasm', 'wasm'], 'coalesce'); // two frames, not coalesced (no waitUntil)
    await page.next(2);
    const tasks: Promise<void>[] = [];
    const later = (t: Promise<void>) => void tasks.push(t);
    const openId = 'coalesce-1';
    await new Promise((r) => setTimeout(r, PROGRESS_EVERY_MS)); // verifyNext's progress was computed just now
    const start = Date.now();
    await notifyCampaign(env, openId, Date.now(), later);
    await page.next(3); // the first goes out at once
    for (let i = 0; i < 5; i++) await notifyCampaign(env, openId, Date.now(), later);
    expect(tasks).toHaveLength(1); // the rest: one trailing update
    expect(page.frames).toHaveLength(3);
    await notifyCampaign(env, verifiedId, Date.now(), later); // a verification does not wait
    const verified = JSON.parse((await page.next(4))[3]!) as LiveEvent;
    expect(verified).toMatchObject({ type: 'verified', row: { experimentId: verifiedId } });
    expect(page.frames).toHaveLength(4);
    await Promise.all(tasks);
    expect(Date.now() - start).toBeGreaterThanOrEqual(PROGRESS_EVERY_MS - 50);
    const trailing = JSON.parse((await page.next(5))[4]!) as LiveEvent;
    expect(trailing).toMatchObject({ type: 'progress', progress: { verified: 1, experiments: 2 } });
    await page.close();
  });

  it('answers ping with pong without waking the hub', async () => {
    await seedCampaign('c1', 1);
    const page = await connect('c1');
    page.ws.send('ping');
    expect(await page.next(1)).toEqual(['pong']);
    await page.close();
  });

  it('refuses a plain GET, an unknown campaign and a malformed id', async () => {
    await seedCampaign('c1', 1);
    const plain = await api('/api/campaigns/c1/live');
    expect(plain.status).toBe(426);
    expect((await readRefusal(plain)).error).toBe('upgrade_required');
    const unknown = await api('/api/campaigns/nope/live', { headers: { Upgrade: 'websocket' } });
    expect(unknown.status).toBe(404);
    expect((await readRefusal(unknown)).error).toBe('unknown_campaign');
    expect(
      (await api('/api/campaigns/%3Cx%3E/live', { headers: { Upgrade: 'websocket' } })).status,
    ).toBe(400);
  });
});
