// The campaign hub: one Durable Object per campaign holding the WebSockets of its open pages, with
// the hibernation API so idle viewers cost nothing (the object sleeps; workerd keeps the sockets).
// The results route calls `broadcast` after validation; pages answer a drop by reconnecting and
// re-reading a snapshot (docs/edge.md: every deploy drops them).
import { DurableObject } from 'cloudflare:workers';
import type { LiveEvent } from '../../shared/protocol.ts';

/** Clients send this every ~30 s; the runtime answers without waking the object. */
export const PING = 'ping';
export const PONG = 'pong';

/** Open pages one campaign holds at most; more get 503 and retry with backoff. */
const MAX_SOCKETS = 5_000;

export class CampaignHub extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      return new Response('Expected a WebSocket upgrade.', { status: 426 });
    }
    if (this.ctx.getWebSockets().length >= MAX_SOCKETS)
      return new Response('This campaign has too many open pages.', { status: 503 });
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Sends the event to every open page; returns how many it reached. */
  broadcast(event: LiveEvent): number {
    const text = JSON.stringify(event);
    let sent = 0;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
        sent++;
      } catch {
        // A socket closing under us: its page reconnects and re-reads the snapshot.
      }
    }
    return sent;
  }

  /** Pages only listen; anything but the auto-answered ping is ignored. */
  override webSocketMessage(): void {}

  override webSocketClose(ws: WebSocket, code: number): void {
    try {
      ws.close(code === 1005 ? 1000 : code, 'closing');
    } catch {
      // already closed (the runtime answers close frames itself at this compatibility date)
    }
  }
}
