// The API described as OpenAPI 3.1, generated from the same zod schemas the routes validate with,
// plus a plain reference page rendered from it.
import { z } from 'zod';
import {
  HeartbeatRequest,
  LeaseRequest,
  LinkKeyRequest,
  RegisterRequest,
  ResultRequest,
  SpotCheckRequest,
} from '../../shared/protocol.ts';
import { CampaignBrief } from '../../shared/search-space.ts';

interface Route {
  method: 'get' | 'post' | 'put';
  path: string;
  summary: string;
  auth?: 'volunteer' | 'researcher';
  body?: z.ZodType;
  errors: string[];
}

const SIGNED = [
  'missing_signature',
  'stale_timestamp',
  'bad_signature',
  'unknown_volunteer',
  'replayed_request',
  'rate_limited',
];
const BODY = ['invalid_json', 'invalid_request', 'unsupported_media_type', 'payload_too_large'];

export const ROUTES: Route[] = [
  { method: 'get', path: '/api/health', summary: 'Liveness: {"ok": true}.', errors: [] },
  {
    method: 'post',
    path: '/api/volunteers',
    summary: 'Register an Ed25519 public key; the volunteer id is derived from it. Idempotent.',
    body: RegisterRequest,
    errors: [...BODY, 'stale_timestamp', 'bad_signature', 'key_unavailable'],
  },
  {
    method: 'post',
    path: '/api/volunteers/keys',
    summary:
      "Link another key to the signing volunteer (an identity moved to another browser): signed by a key it holds, with the new key's proof over the link payload.",
    auth: 'volunteer',
    body: LinkKeyRequest,
    errors: [...SIGNED, ...BODY, 'foreign_volunteer', 'key_unavailable'],
  },
  {
    method: 'post',
    path: '/api/leases',
    summary:
      'Lease the next experiment: spec, lease token and deadline, or {lease: null, retryAfterSec}.',
    auth: 'volunteer',
    body: LeaseRequest,
    errors: [...SIGNED, ...BODY, 'unknown_campaign', 'unknown_partner', 'uncalibrated_precision'],
  },
  {
    method: 'post',
    path: '/api/leases/{id}/heartbeat',
    summary: 'Report progress (step, loss) and extend the lease deadline.',
    auth: 'volunteer',
    body: HeartbeatRequest,
    errors: [...SIGNED, ...BODY, 'unknown_lease', 'foreign_lease', 'lease_expired'],
  },
  {
    method: 'post',
    path: '/api/results',
    summary:
      'Submit a result signed over its canonical JSON, bound to the lease token, spec hash and dataset hash. Resubmitting returns the first outcome.',
    auth: 'volunteer',
    body: ResultRequest,
    errors: [
      ...SIGNED,
      ...BODY,
      'unknown_lease',
      'foreign_lease',
      'lease_expired',
      'experiment_settled',
      'spec_mismatch',
      'dataset_mismatch',
      'budget_mismatch',
      'commitment_mismatch',
      'busy',
    ],
  },
  {
    method: 'post',
    path: '/api/results/spot-checks',
    summary:
      "Submit a spot-check lease's outcome (the segment means over [0, toStep)), signed over its canonical JSON. Resubmitting returns duplicate: true.",
    auth: 'volunteer',
    body: SpotCheckRequest,
    errors: [
      ...SIGNED,
      ...BODY,
      'unknown_lease',
      'foreign_lease',
      'lease_expired',
      'spec_mismatch',
      'budget_mismatch',
    ],
  },
  {
    method: 'put',
    path: '/api/results/spot-checks/{id}/checkpoint',
    summary:
      "The checked result's volunteer reveals the committed checkpoint a spot check asked for (application/octet-stream, at most 64 MiB). Signed as an upload: the body's SHA-256 is declared in x-tabgrid-body-sha256 and signed, checked before a byte is read.",
    auth: 'volunteer',
    errors: [
      ...SIGNED,
      'invalid_request',
      'unsupported_media_type',
      'payload_too_large',
      'unknown_spot_check',
      'foreign_spot_check',
      'reveal_expired',
      'body_mismatch',
      'commitment_mismatch',
    ],
  },
  {
    method: 'get',
    path: '/api/results/spot-checks/{id}/checkpoint',
    summary:
      'The revealed checkpoint, for the volunteer the spot check is leased to (its lease token in x-tabgrid-lease-token).',
    errors: [
      'invalid_request',
      'missing_token',
      'unknown_spot_check',
      'foreign_lease',
      'lease_expired',
    ],
  },
  {
    method: 'get',
    path: '/api/volunteers/{id}',
    summary:
      "A volunteer's standing: reputation (−100..100), credit (FLOPs verified, and the recent average per day with a 7-day half-life), results by verdict, and per backend class the consecutive verified results that set its replication probability.",
    errors: ['invalid_request', 'unknown_volunteer'],
  },
  {
    method: 'get',
    path: '/api/ledger',
    summary:
      'The hash-chained trust ledger (verdicts, credits, revocations, disputes) after ?after=seq, oldest first, ?limit ≤ 500, with the head. Each hash is SHA-256(previous hash ‖ canonical JSON of the entry).',
    errors: ['invalid_request'],
  },
  {
    method: 'get',
    path: '/api/campaigns',
    summary: 'All campaigns with experiment and verified counts.',
    errors: [],
  },
  {
    method: 'post',
    path: '/api/campaigns',
    summary: 'Create a campaign from a brief: seeded experiments within the admission bounds.',
    auth: 'researcher',
    body: CampaignBrief,
    errors: [...BODY, 'missing_token', 'bad_token', 'unknown_dataset', 'not_admitted'],
  },
  {
    method: 'get',
    path: '/api/campaigns/{id}',
    summary: 'One campaign.',
    errors: ['invalid_request', 'unknown_campaign'],
  },
  {
    method: 'get',
    path: '/api/campaigns/{id}/leaderboard',
    summary: 'Verified experiments ranked by val_bpb.',
    errors: ['invalid_request', 'unknown_campaign'],
  },
  {
    method: 'get',
    path: '/api/campaigns/{id}/snapshot',
    summary:
      'What a campaign page shows: the campaign, its progress and ETA, the leaderboard and the leaders’ loss curves. Re-read it after every reconnect.',
    errors: ['invalid_request', 'unknown_campaign'],
  },
  {
    method: 'get',
    path: '/api/campaigns/{id}/progress',
    summary:
      'Experiments queued, running, awaiting a replica, verified and disputed, the active fleet and an ETA.',
    errors: ['invalid_request', 'unknown_campaign'],
  },
  {
    method: 'get',
    path: '/api/campaigns/{id}/curves',
    summary: 'Mean loss curves of the best verified experiments (?top=1–20, default 5).',
    errors: ['invalid_request', 'unknown_campaign'],
  },
  {
    method: 'get',
    path: '/api/campaigns/{id}/importance',
    summary:
      'How much of val_bpb each hyperparameter explains: a one-way variance decomposition (ε²), the method named in the response.',
    errors: ['invalid_request', 'unknown_campaign'],
  },
  {
    method: 'get',
    path: '/api/campaigns/{id}/volunteers',
    summary: 'Volunteers ranked by the credit they earned in this campaign.',
    errors: ['invalid_request', 'unknown_campaign'],
  },
  {
    method: 'get',
    path: '/api/campaigns/{id}/live',
    summary:
      'WebSocket (Upgrade: websocket): LiveEvent JSON frames when results arrive and experiments verify; send "ping" to get "pong".',
    errors: ['invalid_request', 'unknown_campaign', 'upgrade_required'],
  },
  {
    method: 'get',
    path: '/api/experiments/{id}',
    summary:
      'One experiment: spec, every replica with backend, curve and verdict, the tolerance, and the command that reproduces it.',
    errors: ['invalid_request', 'unknown_experiment'],
  },
  {
    method: 'get',
    path: '/api/leaderboards',
    summary:
      'Campaigns by progress and volunteers by credit (FLOPs verified), recent average credit and verified experiments.',
    errors: [],
  },
  {
    method: 'get',
    path: '/api/datasets',
    summary: 'The datasets campaigns may use, with their vocabulary size and manifest SHA-256.',
    errors: [],
  },
  {
    method: 'get',
    path: '/api/corpus',
    summary:
      'Every verified record (spec, seed, config, metrics, replicas) as JSON lines or CSV (?format=jsonl|csv, ?campaign, ?limit ≤ 500, ?cursor). The next page is in the Link header.',
    errors: ['invalid_request', 'unknown_campaign'],
  },
  {
    method: 'get',
    path: '/api/partners',
    summary:
      'Partner sites ranked by verified results, with tokens trained and volunteers through their widgets.',
    errors: [],
  },
  {
    method: 'get',
    path: '/api/partners/{id}',
    summary: "One partner's public name and stats.",
    errors: ['invalid_request', 'unknown_partner'],
  },
];

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const op: Record<string, unknown> = {
      summary: r.summary,
      responses: {
        '200': { description: 'Success (201 when something was created).' },
        '4XX': {
          description: `Refusal: {error, message}. Codes: ${r.errors.join(', ') || 'none'}.`,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
    if (r.body)
      op.requestBody = {
        required: true,
        content: {
          'application/json': {
            schema: z.toJSONSchema(r.body, { io: 'input', unrepresentable: 'any' }),
          },
        },
      };
    if (r.auth === 'researcher') op.security = [{ researcher: [] }];
    if (r.auth === 'volunteer') op.security = [{ volunteerSignature: [] }];
    if (r.path.includes('{id}'))
      op.parameters = [
        {
          name: 'id',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
        },
      ];
    (paths[r.path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tabgrid edge API',
      version: '0.1.0',
      description: 'Volunteer compute for ML research in a browser tab.',
    },
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: {
            error: { type: 'string' },
            message: { type: 'string' },
            issues: { type: 'array' },
          },
        },
      },
      securitySchemes: {
        researcher: {
          type: 'http',
          scheme: 'bearer',
          description: 'A token from `npm run researcher -- add NAME`.',
        },
        volunteerSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'x-tabgrid-signature',
          description:
            'Ed25519 over canonical JSON {method, path, timestamp, bodySha256}, with x-tabgrid-volunteer and x-tabgrid-timestamp.',
        },
      },
    },
  };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

export function referencePage(): string {
  const rows = ROUTES.map(
    (r) =>
      `<section><h2><code>${r.method.toUpperCase()} ${escape(r.path)}</code></h2><p>${escape(r.summary)}</p>` +
      `<p><strong>Auth:</strong> ${r.auth ?? 'none'}</p><p><strong>Refusals:</strong> ${r.errors.map((e) => `<code>${e}</code>`).join(' ') || 'none'}</p></section>`,
  ).join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><title>Tabgrid API reference</title>
<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5}h2{font-size:1.05rem;margin-top:2rem}code{font-size:.95em}</style></head>
<body><h1>Tabgrid API reference</h1><p>Every refusal is a 4xx JSON body <code>{"error": code, "message": sentence}</code>. Request schemas: <a href="/api/openapi.json">openapi.json</a>.</p>${rows}</body></html>`;
}
