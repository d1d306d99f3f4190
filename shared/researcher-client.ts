// A researcher's client for scripts and notebooks: create a campaign from a brief (checked here
// first with the edge's own schema and admission policy), read its progress and snapshot, watch it
// by polling, and page the corpus through the Link header. No DOM: the transport is any fetch-like
// function (fetch itself in Node and browsers, the app's own request() in the workerd tests).
import type { z } from 'zod';
import type {
  ApiError,
  Campaign,
  CampaignProgress,
  CampaignSnapshot,
  CorpusRecord,
  DatasetSummary,
  LeaderboardEntry,
} from './protocol.ts';
import { sha256 } from './crypto.ts';
import { manifestHash, type BuiltDataset, type DatasetManifest } from './dataset.ts';
import {
  DATASET_LIMITS,
  MULTIPART_THRESHOLD,
  PART_SHA_HEADER,
  partRange,
  type UploadStarted,
} from './dataset-upload.ts';
import { admissionIssues, CampaignBrief, sampleExperiments } from './search-space.ts';
import { BriefOrSweep } from './wandb-sweep.ts';

/** A brief as a researcher writes it: the schema's input (defaults may be left out). */
export type BriefInput = z.input<typeof CampaignBrief>;

/** One problem with a brief or a request, tied to a field ("searchSpace.lr.min"); "" for the whole. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** What the client needs of a request: a subset of RequestInit, so fetch accepts it. */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

/** What the client needs of a reply: fetch's Response is one. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export type HttpFetch = (url: string, init: HttpRequest) => Promise<HttpResponse>;

export type CorpusFormat = 'jsonl' | 'csv';

/** One part of a resumable upload handled: sent now, or held by the edge from an earlier try. */
export type PartProgress = (p: {
  sha256: string;
  part: number;
  parts: number;
  resumed: boolean;
}) => void;

/** A refusal from the edge (its stable code, message and per-field issues) or a brief refused here. */
export class TabgridError extends Error {
  readonly status: number; // 0: refused locally, before anything was sent
  readonly code: string;
  readonly issues: FieldIssue[];

  constructor(status: number, code: string, message: string, issues: FieldIssue[] = []) {
    super(message);
    this.name = 'TabgridError';
    this.status = status;
    this.code = code;
    this.issues = issues;
  }

  /** The message and each issue on its own line, as "path: message". */
  describe(): string {
    return [this.message, ...this.issues.map((i) => `  ${i.path || '(brief)'}: ${i.message}`)].join(
      '\n',
    );
  }
}

/** The brief's schema problems, each naming its field as the edge does (path joined with dots). */
export function briefIssues(input: unknown): FieldIssue[] {
  const parsed = BriefOrSweep.safeParse(input);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

/**
 * The brief parsed with the edge's schema (defaults filled in); with the dataset's vocabulary also
 * the admission policy (every sampled experiment within the template's bounds). Throws a
 * TabgridError with status 0 and code "invalid_brief" or "not_admitted" naming each field.
 */
export function checkBrief(
  input: unknown,
  dataset?: Pick<DatasetSummary, 'vocabSize' | 'manifestSha256'>,
): CampaignBrief {
  const parsed = BriefOrSweep.safeParse(input); // a brief, or a W&B sweep mapped to one
  if (!parsed.success) {
    const issues = briefIssues(input);
    const first = issues[0];
    throw new TabgridError(
      0,
      'invalid_brief',
      `Invalid brief${first?.path ? ` at ${first.path}` : ''}: ${first?.message ?? 'schema mismatch'}.`,
      issues,
    );
  }
  const brief = parsed.data;
  if (dataset) {
    const specs = sampleExperiments(brief, {
      ref: { id: brief.datasetId, sha256: dataset.manifestSha256 },
      vocabSize: dataset.vocabSize,
    });
    const issues = admissionIssues(brief, specs);
    if (issues.length) throw new TabgridError(0, 'not_admitted', issues[0]!.message, issues);
  }
  return brief;
}

/** The target of a `Link: <…>; rel="next"` header, or null. */
export function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(^|;)\s*rel="?next"?\s*(;|$)/.test(m[2]!)) return m[1]!;
  }
  return null;
}

/** Every experiment left to run is done: none queued, training or waiting for a replica. */
export function campaignDone(p: CampaignProgress): boolean {
  return p.experiments > 0 && p.queued + p.running + p.awaitingReplica === 0;
}

/** One look at a watched campaign: its progress and the experiments verified since the last look. */
export interface WatchTick {
  campaign: Campaign;
  progress: CampaignProgress;
  verified: LeaderboardEntry[]; // newly verified, oldest verification first
  done: boolean;
}

export interface WatchOptions {
  intervalMs?: number; // between two snapshots (default 3 s)
  stopWhenDone?: boolean; // end after the tick where the campaign is done (default true)
  signal?: { readonly aborted: boolean };
  sleep?: (ms: number) => Promise<void>;
}

export interface ClientOptions {
  baseUrl: string; // the edge's origin, e.g. https://tabgrid.example (no trailing /api)
  token?: string; // a researcher token (npm run researcher -- add NAME); needed to create campaigns
  fetch?: HttpFetch; // default: the global fetch
}

export class ResearcherClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: HttpFetch;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.#token = opts.token;
    const f = opts.fetch ?? (globalThis as { fetch?: HttpFetch }).fetch?.bind(globalThis);
    if (!f) throw new Error('No fetch here: pass one in the options.');
    this.#fetch = f;
  }

  /** One request; a reply outside 2xx becomes a TabgridError with the edge's code and issues. */
  async #request(
    path: string,
    init: Partial<HttpRequest> = {},
  ): Promise<{ res: HttpResponse; text: string }> {
    const url = /^https?:\/\//.test(path) ? path : this.baseUrl + path;
    const res = await this.#fetch(url, {
      method: init.method ?? 'GET',
      headers: { accept: 'application/json', ...init.headers },
      ...(init.body !== undefined && { body: init.body }),
    });
    const text = await res.text();
    if (res.status < 200 || res.status > 299) {
      let err: Partial<ApiError> = {};
      try {
        err = JSON.parse(text) as ApiError;
      } catch {
        // not JSON: a proxy's page, say
      }
      throw new TabgridError(
        res.status,
        typeof err.error === 'string' ? err.error : 'http_error',
        typeof err.message === 'string' ? err.message : `HTTP ${res.status} from ${url}`,
        Array.isArray(err.issues) ? err.issues : [],
      );
    }
    return { res, text };
  }

  async #json<T>(path: string, init?: Partial<HttpRequest>): Promise<T> {
    return JSON.parse((await this.#request(path, init)).text) as T;
  }

  /**
   * Uploads a built dataset's token files (each named by its SHA-256; the edge checks the bytes
   * against it) and registers its manifest. Registering the same manifest again changes nothing.
   */
  async addDataset(
    d: BuiltDataset,
    onPart?: PartProgress,
  ): Promise<{ dataset: DatasetSummary; created: boolean }> {
    // A taken id is refused before any byte is uploaded (no files left behind unregistered).
    const hash = await manifestHash(d.manifest);
    const existing = (await this.datasets()).find((x) => x.id === d.manifest.id);
    if (existing?.manifestSha256 === hash) return { dataset: existing, created: false };
    if (existing)
      throw new TabgridError(
        0,
        'dataset_taken',
        `The dataset id ${d.manifest.id} is taken (a registered dataset never changes: pick another id).`,
        [{ path: 'id', message: 'Taken.' }],
      );
    const files = [
      [d.manifest.train, d.train],
      [d.manifest.val, d.val],
    ] as const;
    const total = files.reduce((n, [, t]) => n + t.byteLength, 0);
    if (total > DATASET_LIMITS.datasetBytes)
      throw new TabgridError(
        0,
        'dataset_too_large',
        `A dataset is limited to ${DATASET_LIMITS.datasetBytes} bytes of tokens; this one has ${total}.`,
      );
    for (const [file, tokens] of files) {
      const bytes = new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength).slice();
      if ((await sha256(bytes)) !== file.sha256)
        throw new TabgridError(
          0,
          'hash_mismatch',
          `${file.file} does not hash to its manifest entry.`,
        );
      await this.uploadFile(file.sha256, bytes, onPart);
    }
    return this.registerDataset(d.manifest);
  }

  /**
   * Stores one dataset file on the edge under its SHA-256: in one PUT up to MULTIPART_THRESHOLD,
   * else as a resumable upload — the edge says which parts it holds already (an earlier, interrupted
   * call's), only the others are sent, each with its SHA-256, then the edge checks the whole file.
   */
  async uploadFile(
    sha: string,
    bytes: Uint8Array<ArrayBuffer>,
    onPart?: PartProgress,
  ): Promise<void> {
    if (bytes.byteLength > DATASET_LIMITS.fileBytes)
      throw new TabgridError(
        0,
        'payload_too_large',
        `A dataset file is limited to ${DATASET_LIMITS.fileBytes} bytes; this one has ${bytes.byteLength}.`,
      );
    const headers = { 'content-type': 'application/octet-stream', ...this.#auth() };
    if (bytes.byteLength <= MULTIPART_THRESHOLD) {
      await this.#request(`/api/datasets/files/${sha}`, { method: 'PUT', headers, body: bytes });
      return;
    }
    const { stored, upload } = await this.#json<UploadStarted>('/api/datasets/uploads', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.#auth() },
      body: JSON.stringify({ sha256: sha, bytes: bytes.byteLength }),
    });
    if (stored || !upload) return;
    const held = new Map(upload.received.map((p) => [p.partNumber, p.sha256]));
    for (let n = 1; n <= upload.parts; n++) {
      const [from, to] = partRange(n, upload.bytes, upload.partBytes);
      const part = bytes.slice(from, to);
      const partSha = await sha256(part);
      const resumed = held.get(n) === partSha;
      if (!resumed)
        await this.#request(`/api/datasets/uploads/${upload.id}/parts/${n}`, {
          method: 'PUT',
          headers: { ...headers, [PART_SHA_HEADER]: partSha },
          body: part,
        });
      onPart?.({ sha256: sha, part: n, parts: upload.parts, resumed });
    }
    await this.#request(`/api/datasets/uploads/${upload.id}/complete`, {
      method: 'POST',
      headers: this.#auth(),
    });
  }

  /** Registers a manifest whose files are uploaded; created is false when it already was. */
  async registerDataset(
    manifest: DatasetManifest,
  ): Promise<{ dataset: DatasetSummary; created: boolean }> {
    const { res, text } = await this.#request('/api/datasets', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.#auth() },
      body: JSON.stringify(manifest),
    });
    const { dataset } = JSON.parse(text) as { dataset: DatasetSummary };
    return { dataset, created: res.status === 201 };
  }

  /** An uploaded dataset's manifest, checked against the hash the edge registered it under. */
  async datasetManifest(id: string): Promise<DatasetManifest> {
    const manifest = await this.#json<DatasetManifest>(
      `/api/datasets/${encodeURIComponent(id)}/manifest`,
    );
    const registered = (await this.datasets()).find((d) => d.id === id);
    if (registered?.manifestSha256 !== (await manifestHash(manifest)))
      throw new TabgridError(
        0,
        'hash_mismatch',
        `The manifest of ${id} does not hash to its registration.`,
      );
    return manifest;
  }

  #auth(): Record<string, string> {
    if (!this.#token) throw new TabgridError(0, 'missing_token', 'This needs a researcher token.');
    return { authorization: `Bearer ${this.#token}` };
  }

  datasets(): Promise<DatasetSummary[]> {
    return this.#json<{ datasets: DatasetSummary[] }>('/api/datasets').then((r) => r.datasets);
  }

  /**
   * Checks the brief here (schema, then the dataset and admission against this edge's registered
   * datasets) and creates the campaign. A refusal, local or the edge's, is a TabgridError.
   */
  async createCampaign(input: BriefInput): Promise<Campaign> {
    let brief = checkBrief(input);
    const dataset = (await this.datasets()).find((d) => d.id === brief.datasetId);
    if (!dataset) {
      throw new TabgridError(
        0,
        'unknown_dataset',
        `No dataset ${brief.datasetId} is registered on this edge.`,
        [{ path: 'datasetId', message: 'Unknown dataset.' }],
      );
    }
    brief = checkBrief(input, dataset);
    const { campaign } = await this.#json<{ campaign: Campaign }>('/api/campaigns', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.#auth() },
      body: JSON.stringify(brief),
    });
    return campaign;
  }

  campaign(id: string): Promise<Campaign> {
    return this.#json<{ campaign: Campaign }>(`/api/campaigns/${encodeURIComponent(id)}`).then(
      (r) => r.campaign,
    );
  }

  progress(id: string): Promise<CampaignProgress> {
    return this.#json<{ progress: CampaignProgress }>(
      `/api/campaigns/${encodeURIComponent(id)}/progress`,
    ).then((r) => r.progress);
  }

  /** The campaign, its progress, its leaderboard (best first) and the leaders' curves. */
  snapshot(id: string): Promise<CampaignSnapshot> {
    return this.#json<CampaignSnapshot>(`/api/campaigns/${encodeURIComponent(id)}/snapshot`);
  }

  /**
   * Polls the campaign's snapshot: yields at once, then every intervalMs, each time with the
   * experiments verified since the previous tick; ends after the tick where the campaign is done
   * (unless stopWhenDone is false) or when the signal is aborted.
   */
  async *watch(id: string, opts: WatchOptions = {}): AsyncGenerator<WatchTick> {
    const interval = opts.intervalMs ?? 3000;
    const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const seen = new Set<string>();
    while (!opts.signal?.aborted) {
      const snap = await this.snapshot(id);
      const verified = snap.rows
        .filter((r) => !seen.has(r.experimentId))
        .sort((a, b) => a.verifiedAt - b.verifiedAt || a.idx - b.idx);
      for (const r of verified) seen.add(r.experimentId);
      const done = campaignDone(snap.progress);
      yield { campaign: snap.campaign, progress: snap.progress, verified, done };
      if ((done && opts.stopWhenDone !== false) || opts.signal?.aborted) return;
      await sleep(interval);
    }
  }

  /** The corpus, one page's body at a time (CSV: the header only on the first), following Link. */
  async *corpusPages(
    opts: { campaign?: string; format?: CorpusFormat; limit?: number } = {},
  ): AsyncGenerator<string> {
    let next: string | null =
      `/api/corpus?format=${opts.format ?? 'jsonl'}` +
      (opts.campaign === undefined ? '' : `&campaign=${encodeURIComponent(opts.campaign)}`) +
      (opts.limit === undefined ? '' : `&limit=${opts.limit}`);
    while (next) {
      const { res, text } = await this.#request(next, {
        headers: { accept: opts.format === 'csv' ? 'text/csv' : 'application/x-ndjson' },
      });
      yield text;
      next = nextLink(res.headers.get('link'));
    }
  }

  /** Every verified record of the corpus (of one campaign, when named), oldest verification first. */
  async *corpusRecords(
    opts: { campaign?: string; limit?: number } = {},
  ): AsyncGenerator<CorpusRecord> {
    for await (const page of this.corpusPages({ ...opts, format: 'jsonl' })) {
      for (const line of page.split('\n')) if (line.trim()) yield JSON.parse(line) as CorpusRecord;
    }
  }

  /** The whole corpus (of one campaign, when named) as one JSONL or CSV text. */
  async corpusText(opts: { campaign?: string; format?: CorpusFormat } = {}): Promise<string> {
    let out = '';
    for await (const page of this.corpusPages(opts)) out += page;
    return out;
  }
}
