// The corpus: every verified experiment with its spec, metrics and all replicas, in verification
// order, one page per call. The cursor is the last record's (verified_at, id), so a page never
// shifts when new verifications arrive (they sort after it) and paging resumes where it stopped.
// Ids are unique over all shards (each carries its shard, shards.ts), so (verified_at, id) orders
// every shard's experiments at once: the cursor needs no shard, and a shard-0 cursor stays valid.
// A result of an archived campaign keeps a summary in D1 and names its segment in R2, from which
// its full metrics are read back (archive/campaigns.ts): the export is the same before and after.
import { hyperparameters } from '../../../shared/importance.ts';
import type { CorpusRecord, Metrics, ResultVerdict } from '../../../shared/protocol.ts';
import type { ExperimentSpec } from '../../../shared/spec.ts';
import { ARCHIVED_PAYLOAD_PREFIX } from '../archive/campaigns.ts';
import { archivedMetrics, segmentBound } from '../archive/corpus-rows.ts';
import { meanCurve } from './leaderboard.ts';

export interface CorpusCursor {
  verifiedAt: number;
  id: string;
}

export function encodeCursor(c: CorpusCursor): string {
  return btoa(JSON.stringify([c.verifiedAt, c.id]))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

/** The cursor, or null when it was not made by encodeCursor. */
export function decodeCursor(text: string): CorpusCursor | null {
  try {
    const [verifiedAt, id] = JSON.parse(
      atob(text.replaceAll('-', '+').replaceAll('_', '/')),
    ) as unknown[];
    if (!Number.isSafeInteger(verifiedAt) || typeof id !== 'string' || id.length > 64) return null;
    return { verifiedAt: verifiedAt as number, id };
  } catch {
    return null;
  }
}

// Keyset paging on experiments_by_verification (status, verified_at, id). Parameters:
// ?1 campaign id or NULL, ?2/?3 the cursor (or -1 / ''), ?4 page size + 1 (to know if more follow).
const PAGE = `SELECT id FROM experiments
  WHERE status = 'verified' AND (?1 IS NULL OR campaign_id = ?1) AND (verified_at, id) > (?2, ?3)
  ORDER BY verified_at, id LIMIT ?4`;

/** The segment an archived result names (payload_json = 'archive:<sha256>'), else NULL. */
const SEGMENT_OF = `CASE WHEN r.payload_json LIKE '${ARCHIVED_PAYLOAD_PREFIX}%'
  THEN substr(r.payload_json, ${ARCHIVED_PAYLOAD_PREFIX.length + 1}) END`;

interface ExperimentRow {
  id: string;
  campaignId: string;
  specHash: string;
  specJson: string;
  valBpb: number;
  verifiedAt: number;
  flops: number;
  tokens: number;
  parentId: string | null;
  checkpointSha256: string | null;
}

interface ResultRow {
  experimentId: string;
  resultId: string;
  volunteerId: string;
  verdict: ResultVerdict;
  submittedAt: number;
  metricsJson: string;
  segment: string | null;
}

/** One shard's share of a page: its next limit + 1 verified experiments after the cursor, with results. */
export interface CorpusRows {
  experiments: ExperimentRow[];
  results: ResultRow[];
}

/** The experiments (and their results) that may fill the page after `after`, from one shard. */
export async function corpusRows(
  db: D1Database,
  opts: { campaignId?: string; after?: CorpusCursor; limit: number },
): Promise<CorpusRows> {
  const params = [
    opts.campaignId ?? null,
    opts.after?.verifiedAt ?? -1,
    opts.after?.id ?? '',
    opts.limit + 1,
  ];
  const [exps, results] = await db.batch<Record<string, unknown>>([
    db
      .prepare(
        `SELECT e.id, e.campaign_id AS campaignId, e.spec_hash AS specHash, e.spec_json AS specJson, e.val_bpb AS valBpb,
        e.verified_at AS verifiedAt, e.flops, e.tokens, e.parent_id AS parentId, e.checkpoint_sha256 AS checkpointSha256
      FROM experiments e WHERE e.id IN (${PAGE}) ORDER BY e.verified_at, e.id`,
      )
      .bind(...params),
    db
      .prepare(
        `SELECT r.experiment_id AS experimentId, r.id AS resultId, r.volunteer_id AS volunteerId, r.verdict,
        r.created_at AS submittedAt, r.metrics_json AS metricsJson, ${SEGMENT_OF} AS segment
      FROM results r WHERE r.experiment_id IN (${PAGE}) ORDER BY r.created_at, r.id`,
      )
      .bind(...params),
  ]);
  return {
    experiments: exps!.results as unknown as ExperimentRow[],
    results: results!.results as unknown as ResultRow[],
  };
}

/**
 * The page from the first limit + 1 experiments in (verified_at, id) order over every shard read
 * (db/fan-out.ts) and their results: up to `limit` records, and the cursor of the next page.
 */
export async function corpusPage(
  bucket: R2Bucket,
  { experiments: rows, results: resultRows }: CorpusRows,
  limit: number,
): Promise<{ records: CorpusRecord[]; next: CorpusCursor | null }> {
  // A page reads at most MAX_SEGMENTS_PER_PAGE archive segments: past that it ends early and the
  // cursor resumes there, so no request fans out into an unbounded number of R2 reads.
  const page = rows.slice(0, segmentBound(rows.slice(0, limit), resultRows));
  const inPage = new Set(page.map((e) => e.id));
  const mine = resultRows.filter((r) => inPage.has(r.experimentId));
  const full = await archivedMetrics(
    bucket,
    mine.flatMap((r) => (r.segment ? [r.segment] : [])),
  );
  const replicas = new Map<string, CorpusRecord['replicas']>();
  for (const { experimentId, metricsJson, segment, ...r } of mine) {
    const list = replicas.get(experimentId) ?? [];
    const json = segment ? full.get(r.resultId) : metricsJson;
    if (json === undefined)
      throw new Error(`result ${r.resultId} is not in its archive segment ${segment}`);
    list.push({ ...r, metrics: JSON.parse(json) as Metrics });
    replicas.set(experimentId, list);
  }
  const records = page.map((e): CorpusRecord => {
    const spec = JSON.parse(e.specJson) as ExperimentSpec;
    const reps = replicas.get(e.id) ?? [];
    const agreeing = reps.filter((r) => r.verdict === 'valid').map((r) => r.metrics.curve);
    return {
      experimentId: e.id,
      campaignId: e.campaignId,
      specHash: e.specHash,
      seed: spec.seed,
      config: hyperparameters(spec),
      spec,
      metrics: {
        valBpb: e.valBpb,
        curve: agreeing.length ? meanCurve(agreeing) : [],
        curveEvery: spec.train.curveEvery,
        tokens: e.tokens,
        flops: e.flops,
      },
      verifiedAt: e.verifiedAt,
      parentId: e.parentId,
      checkpointSha256: e.checkpointSha256,
      replicas: reps,
    };
  });
  const last = page.at(-1);
  const more = rows.length > page.length;
  return {
    records,
    next: more && last ? { verifiedAt: last.verifiedAt, id: last.id } : null,
  };
}

/** Flat CSV columns: identity, the spec's fields, the verified metrics and a summary of the replicas. */
const COLUMNS: [string, (r: CorpusRecord) => string | number | boolean][] = [
  ['experiment_id', (r) => r.experimentId],
  ['campaign_id', (r) => r.campaignId],
  ['spec_hash', (r) => r.specHash],
  ['dataset_id', (r) => r.spec.dataset.id],
  ['dataset_sha256', (r) => r.spec.dataset.sha256],
  ['seed', (r) => r.seed],
  ['n_layer', (r) => r.spec.model.nLayer],
  ['n_head', (r) => r.spec.model.nHead],
  ['n_embd', (r) => r.spec.model.nEmbd],
  ['block_size', (r) => r.spec.model.blockSize],
  ['vocab_size', (r) => r.spec.model.vocabSize],
  ['bias', (r) => r.spec.model.bias],
  ['dropout', (r) => r.spec.model.dropout],
  ['parent_id', (r) => r.parentId ?? ''],
  ['parent_checkpoint_sha256', (r) => r.spec.parent?.checkpointSha256 ?? ''],
  ['start_step', (r) => r.spec.parent?.step ?? 0],
  ['checkpoint_sha256', (r) => r.checkpointSha256 ?? ''],
  ['steps', (r) => r.spec.train.steps],
  ['schedule_steps', (r) => r.spec.train.scheduleSteps ?? ''],
  ['batch_size', (r) => r.spec.train.batchSize],
  ['lr', (r) => r.spec.train.lr],
  ['min_lr', (r) => r.spec.train.minLr],
  ['warmup_steps', (r) => r.spec.train.warmupSteps],
  ['beta1', (r) => r.spec.train.beta1],
  ['beta2', (r) => r.spec.train.beta2],
  ['eps', (r) => r.spec.train.eps],
  ['weight_decay', (r) => r.spec.train.weightDecay],
  ['grad_clip', (r) => r.spec.train.gradClip],
  ['eval_windows', (r) => r.spec.evalWindows],
  ['tokens', (r) => r.metrics.tokens],
  ['flops', (r) => r.metrics.flops],
  ['val_bpb', (r) => r.metrics.valBpb],
  ['verified_at', (r) => new Date(r.verifiedAt).toISOString()],
  ['replicas', (r) => r.replicas.filter((x) => x.verdict === 'valid').length],
  ['results', (r) => r.replicas.length],
  [
    'backends',
    (r) =>
      [
        ...new Set(r.replicas.filter((x) => x.verdict === 'valid').map((x) => x.metrics.backend)),
      ].join(';'),
  ],
  [
    'replica_val_bpb',
    (r) =>
      r.replicas.map((x) => `${x.metrics.valBpb}${x.verdict === 'valid' ? '' : '*'}`).join(';'),
  ],
  ['curve_every', (r) => r.metrics.curveEvery],
  ['curve', (r) => r.metrics.curve.map((x) => Number(x.toPrecision(6))).join(';')],
];

/** RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes. */
function csvField(v: string | number | boolean): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const CSV_HEADER = COLUMNS.map(([name]) => name).join(',') + '\r\n';

export function csvLine(r: CorpusRecord): string {
  return COLUMNS.map(([, get]) => csvField(get(r))).join(',') + '\r\n';
}
