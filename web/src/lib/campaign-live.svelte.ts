// A campaign page's live state: one snapshot read, then the campaign hub's WebSocket events applied
// as they come. On a drop it reconnects with exponential backoff and jitter and re-reads the
// snapshot, since anything could have happened while it was away (docs/edge.md: deploys drop sockets).
import type {
  Campaign,
  CampaignProgress,
  CampaignSnapshot,
  ExperimentCurve,
  LeaderboardEntry,
  LineageNode,
  LiveEvent,
} from '../../../shared/protocol.ts';
import type { Strategy } from '../../../shared/asha.ts';
import { getJson } from './api.ts';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';

/** Leaders whose curves the page keeps (edge/src/routes/campaign-views.ts LEADERS). */
const LEADERS = 5;
const PING_MS = 30_000;
const BACKOFF = { firstMs: 500, maxMs: 30_000 };

function byRank(a: LeaderboardEntry, b: LeaderboardEntry): number {
  return a.valBpb - b.valBpb || a.idx - b.idx;
}

export class CampaignLive {
  campaign = $state.raw<Campaign | null>(null);
  progress = $state.raw<CampaignProgress | null>(null);
  rows = $state.raw<LeaderboardEntry[]>([]);
  leaders = $state.raw<ExperimentCurve[]>([]);
  lineages = $state.raw<LineageNode[]>([]); // a lineage campaign's (docs/lineage.md), else []
  strategy = $state.raw<Strategy | null>(null);
  status = $state<LiveStatus>('connecting');
  error = $state<string | null>(null);
  /** When the last verification arrived over the socket (for the page's "updated" note). */
  lastVerifiedAt = $state<number | null>(null);

  readonly #id: string;
  #ws: WebSocket | null = null;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #pending: LiveEvent[] | null = null; // events that arrive while a snapshot is being read

  constructor(campaignId: string) {
    this.#id = campaignId;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearInterval(this.#ping);
    this.#ws?.close(1000, 'page closed');
    this.#ws = null;
  }

  #connect(): void {
    const { protocol, host } = window.location;
    const url = `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/api/campaigns/${encodeURIComponent(this.#id)}/live`;
    const ws = new WebSocket(url);
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.#attempt = 0;
      this.status = 'live';
      this.#ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), PING_MS);
      void this.#snapshot();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string' || e.data === 'pong') return;
      const event = JSON.parse(e.data) as LiveEvent;
      if (this.#pending) this.#pending.push(event);
      else this.#apply(event);
    };
    ws.onclose = () => {
      clearInterval(this.#ping);
      if (this.#ws !== ws || this.#stopped) return;
      this.#ws = null;
      // Never connected (a proxy without WebSockets, a refused upgrade): still show the data.
      if (!opened && !this.campaign) void this.#snapshot();
      this.status = 'reconnecting';
      const delay = Math.min(BACKOFF.maxMs, BACKOFF.firstMs * 2 ** this.#attempt++);
      this.#retry = setTimeout(() => this.#connect(), delay * (0.5 + Math.random() / 2));
    };
  }

  async #snapshot(): Promise<void> {
    this.#pending = [];
    try {
      const s = await getJson<CampaignSnapshot>(`/api/campaigns/${this.#id}/snapshot`);
      this.campaign = s.campaign;
      this.progress = s.progress;
      this.rows = s.rows;
      this.leaders = s.leaders;
      this.lineages = s.lineages;
      this.strategy = s.strategy;
      this.error = null;
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      const pending = this.#pending ?? [];
      this.#pending = null;
      pending.forEach((e) => this.#apply(e));
    }
  }

  #apply(event: LiveEvent): void {
    if (event.campaignId !== this.#id) return;
    if (this.progress && event.progress.updatedAt < this.progress.updatedAt) return; // older than what is shown
    this.progress = event.progress;
    if (this.campaign) this.campaign = { ...this.campaign, verified: event.progress.verified };
    if (event.type !== 'verified') return;
    const rows = this.rows.filter((r) => r.experimentId !== event.row.experimentId);
    rows.push(event.row);
    rows.sort(byRank);
    this.rows = rows;
    const leaders = this.leaders.filter((l) => l.experimentId !== event.curve.experimentId);
    leaders.push(event.curve);
    leaders.sort((a, b) => a.valBpb - b.valBpb);
    this.leaders = leaders.slice(0, LEADERS);
    this.lastVerifiedAt = Date.now();
    // A lineage campaign's tree changes with each verification (a checkpoint, a new segment or a
    // strategy's decision): read again then, and only then — other campaigns never ask.
    if (this.lineages.length || this.strategy) void this.#lineages();
  }

  async #lineages(): Promise<void> {
    try {
      const r = await getJson<{ nodes: LineageNode[] }>(`/api/campaigns/${this.#id}/lineages`);
      this.lineages = r.nodes;
    } catch {
      // the tree is an extra: it catches up with the next verification or snapshot
    }
  }
}
