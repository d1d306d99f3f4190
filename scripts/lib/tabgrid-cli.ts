// The pure parts of `npm run tabgrid`: reading a brief (YAML or JSON), where the edge and the token
// come from, the terminal's progress bar and result lines, and the corpus as a Parquet file.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { extname, join } from 'node:path';
import { parquetWriteBuffer, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { sha256 } from '../../shared/crypto.ts';
import { buildDataset, type BuiltDataset } from '../../shared/dataset.ts';
import type { CampaignProgress, CorpusRecord, LeaderboardEntry } from '../../shared/protocol.ts';
import { TabgridError } from '../../shared/researcher-client.ts';

/** A brief file's content: JSON for .json, YAML (a superset of JSON) for anything else. */
export function parseBriefText(text: string, filename: string): unknown {
  const json = extname(filename).toLowerCase() === '.json';
  try {
    return json ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? ` (line ${e.linePos[0].line})` : '';
    throw new TabgridError(
      0,
      'unreadable_brief',
      `${filename} is not valid ${json ? 'JSON' : 'YAML'}${where}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
}

export function readBrief(path: string): unknown {
  return parseBriefText(readFileSync(path, 'utf8'), path);
}

export interface Connection {
  url: string;
  token?: string;
  tokenFrom?: 'flag' | 'env' | 'file' | 'config';
}

/** Where the config file is: $TABGRID_CONFIG, else $XDG_CONFIG_HOME/tabgrid/config.json, else ~/.config/…. */
export function configPath(env: Record<string, string | undefined>): string {
  return (
    env.TABGRID_CONFIG ??
    join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'tabgrid', 'config.json')
  );
}

/**
 * The edge's URL and the researcher token, first found wins: the flags (--url, --token-file, or
 * --token, which lands in shell history), the environment (TABGRID_URL, TABGRID_TOKEN), the config
 * file ({"url": …, "token": …}), and for the URL a local edge.
 */
export function resolveConnection(
  flags: { url?: string; token?: string; tokenFile?: string },
  env: Record<string, string | undefined>,
  read: (path: string) => string | null = (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return null;
    }
  },
): Connection {
  let config: { url?: unknown; token?: unknown } = {};
  const path = configPath(env);
  const text = read(path);
  if (text !== null) {
    try {
      config = JSON.parse(text) as typeof config;
    } catch {
      throw new TabgridError(0, 'bad_config', `${path} is not valid JSON.`);
    }
  }
  const url =
    flags.url ??
    env.TABGRID_URL ??
    (typeof config.url === 'string' ? config.url : undefined) ??
    'http://localhost:8787';
  if (flags.token) return { url, token: flags.token, tokenFrom: 'flag' };
  if (flags.tokenFile) {
    const t = read(flags.tokenFile);
    if (t === null) throw new TabgridError(0, 'bad_config', `Cannot read ${flags.tokenFile}.`);
    return { url, token: t.trim(), tokenFrom: 'file' };
  }
  if (env.TABGRID_TOKEN) return { url, token: env.TABGRID_TOKEN, tokenFrom: 'env' };
  if (typeof config.token === 'string') return { url, token: config.token, tokenFrom: 'config' };
  return { url };
}

function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

/** One line: a bar of verified (█) and disputed (▒) experiments, then the counts and the ETA. */
export function progressBar(p: CampaignProgress, width = 30): string {
  const total = Math.max(p.experiments, 1);
  const full = Math.round((p.verified / total) * width);
  const bad = Math.min(width - full, Math.round((p.disputed / total) * width));
  const bar = '█'.repeat(full) + '▒'.repeat(bad) + '░'.repeat(width - full - bad);
  const pct = Math.floor((100 * (p.verified + p.disputed)) / total);
  const parts = [
    `${p.verified}/${p.experiments} verified`,
    p.disputed && `${p.disputed} disputed`,
    p.running && `${p.running} training`,
    p.awaitingReplica && `${p.awaitingReplica} awaiting a replica`,
    p.queued && `${p.queued} queued`,
    p.fleet.volunteers &&
      `${p.fleet.volunteers} volunteer${p.fleet.volunteers === 1 ? '' : 's'}, ${Math.round(p.fleet.tokensPerSec)} tok/s`,
    p.etaSeconds !== null && `ETA ${duration(p.etaSeconds)}`,
  ].filter(Boolean);
  return `[${bar}] ${String(pct).padStart(3)}%  ${parts.join(' · ')}`;
}

/** One newly verified experiment: its id, val_bpb, replicas and its configuration. */
export function verifiedLine(r: LeaderboardEntry): string {
  const t = r.config.train;
  const m = r.config.model;
  return (
    `✓ ${r.experimentId}  val_bpb ${r.valBpb.toFixed(4)}  ` +
    `(${r.replicas} replicas: ${r.backends.join(', ')})  ` +
    `lr=${t.lr.toPrecision(3)} batch=${t.batchSize} steps=${t.steps} ` +
    `n_layer=${m.nLayer} n_head=${m.nHead} n_embd=${m.nEmbd} block=${m.blockSize}`
  );
}

type Kind = 'string' | 'int32' | 'int64' | 'double' | 'bool' | 'timestamp' | 'doubles' | 'strings';
type Value = string | number | boolean | null | number[] | string[];

/**
 * The Parquet columns: the CSV export's (edge/src/db/corpus.ts), typed, with lists where the CSV
 * joins with ';' (the curve, backends, each replica's val_bpb and verdict). A column is nullable
 * where the record may lack it.
 */
export const PARQUET_COLUMNS: [string, Kind, (r: CorpusRecord) => Value][] = [
  ['experiment_id', 'string', (r) => r.experimentId],
  ['campaign_id', 'string', (r) => r.campaignId],
  ['spec_hash', 'string', (r) => r.specHash],
  ['dataset_id', 'string', (r) => r.spec.dataset.id],
  ['dataset_sha256', 'string', (r) => r.spec.dataset.sha256],
  ['seed', 'int64', (r) => r.seed],
  ['n_layer', 'int32', (r) => r.spec.model.nLayer],
  ['n_head', 'int32', (r) => r.spec.model.nHead],
  ['n_embd', 'int32', (r) => r.spec.model.nEmbd],
  ['block_size', 'int32', (r) => r.spec.model.blockSize],
  ['vocab_size', 'int32', (r) => r.spec.model.vocabSize],
  ['bias', 'bool', (r) => r.spec.model.bias],
  ['dropout', 'double', (r) => r.spec.model.dropout],
  ['parent_id', 'string', (r) => r.parentId],
  ['parent_checkpoint_sha256', 'string', (r) => r.spec.parent?.checkpointSha256 ?? null],
  ['start_step', 'int32', (r) => r.spec.parent?.step ?? 0],
  ['checkpoint_sha256', 'string', (r) => r.checkpointSha256],
  ['steps', 'int32', (r) => r.spec.train.steps],
  ['schedule_steps', 'int32', (r) => r.spec.train.scheduleSteps ?? null],
  ['batch_size', 'int32', (r) => r.spec.train.batchSize],
  ['lr', 'double', (r) => r.spec.train.lr],
  ['min_lr', 'double', (r) => r.spec.train.minLr],
  ['warmup_steps', 'int32', (r) => r.spec.train.warmupSteps],
  ['beta1', 'double', (r) => r.spec.train.beta1],
  ['beta2', 'double', (r) => r.spec.train.beta2],
  ['eps', 'double', (r) => r.spec.train.eps],
  ['weight_decay', 'double', (r) => r.spec.train.weightDecay],
  ['grad_clip', 'double', (r) => r.spec.train.gradClip],
  ['eval_windows', 'int32', (r) => r.spec.evalWindows],
  ['tokens', 'int64', (r) => r.metrics.tokens],
  ['flops', 'double', (r) => r.metrics.flops],
  ['val_bpb', 'double', (r) => r.metrics.valBpb],
  ['verified_at', 'timestamp', (r) => r.verifiedAt],
  ['replicas', 'int32', (r) => r.replicas.filter((x) => x.verdict === 'valid').length],
  ['results', 'int32', (r) => r.replicas.length],
  [
    'backends',
    'strings',
    (r) => [
      ...new Set(r.replicas.filter((x) => x.verdict === 'valid').map((x) => x.metrics.backend)),
    ],
  ],
  ['replica_val_bpb', 'doubles', (r) => r.replicas.map((x) => x.metrics.valBpb)],
  ['replica_verdicts', 'strings', (r) => r.replicas.map((x) => x.verdict)],
  ['curve_every', 'int32', (r) => r.metrics.curveEvery],
  ['curve', 'doubles', (r) => r.metrics.curve],
];

const PRIMITIVE: Record<Exclude<Kind, 'doubles' | 'strings'>, Omit<SchemaElement, 'name'>> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  int32: { type: 'INT32' },
  int64: { type: 'INT64' },
  double: { type: 'DOUBLE' },
  bool: { type: 'BOOLEAN' },
  timestamp: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
};

/** The corpus records as one Parquet file (snappy-compressed; lists as standard 3-level LISTs). */
export function corpusParquet(records: CorpusRecord[]): Uint8Array {
  const schema: SchemaElement[] = [{ name: 'root', num_children: PARQUET_COLUMNS.length }];
  const columnData: ColumnSource[] = [];
  for (const [name, kind, get] of PARQUET_COLUMNS) {
    const values = records.map(get);
    if (kind === 'doubles' || kind === 'strings') {
      schema.push(
        { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        {
          name: 'element',
          repetition_type: 'REQUIRED',
          ...(kind === 'doubles' ? PRIMITIVE.double : PRIMITIVE.string),
        },
      );
      columnData.push({ name, data: values as (number[] | string[])[] });
      continue;
    }
    const nullable = values.some((v) => v === null);
    schema.push({ name, repetition_type: nullable ? 'OPTIONAL' : 'REQUIRED', ...PRIMITIVE[kind] });
    const data =
      kind === 'int64'
        ? values.map((v) => (v === null ? null : BigInt(v as number)))
        : kind === 'timestamp'
          ? values.map((v) => (v === null ? null : new Date(v as number)))
          : values;
    columnData.push({ name, data: data as ColumnSource['data'] });
  }
  return new Uint8Array(
    parquetWriteBuffer({
      columnData,
      schema,
      kvMetadata: [{ key: 'tabgrid.source', value: 'GET /api/corpus (verified records)' }],
      createdBy: 'tabgrid',
    }),
  );
}

export interface DatasetOptions {
  id: string; // the name a brief's datasetId uses
  title?: string; // the display name (default: the id)
  source: string; // where the text came from (a path's file name, a URL)
  license?: string;
  tokenizer?: string;
  sha256?: string; // the raw text's expected SHA-256
}

/**
 * A text file's bytes → a built dataset (shared/dataset.ts, the code the built-in corpora use,
 * pinned validation windows included), after checking the id, the tokenizer, the expected hash of
 * the raw bytes and that they are UTF-8.
 */
export async function datasetFromBytes(raw: Uint8Array, o: DatasetOptions): Promise<BuiltDataset> {
  const bad = (path: string, message: string) =>
    new TabgridError(0, 'invalid_dataset', `${path}: ${message}`, [{ path, message }]);
  if (!/^[a-z0-9-]{1,40}$/.test(o.id))
    throw bad('name', 'use 1 to 40 lowercase letters, digits and hyphens.');
  const tokenizer = o.tokenizer ?? 'char';
  if (tokenizer !== 'char' && tokenizer !== 'byte')
    throw bad('tokenizer', `unknown tokenizer ${tokenizer}: char or byte.`);
  const bytes = raw.slice();
  if (o.sha256 && (await sha256(bytes)) !== o.sha256.toLowerCase())
    throw bad('sha256', 'the text does not hash to the expected SHA-256.');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw bad('path', 'the text is not UTF-8.');
  }
  if (text.length < 1000)
    throw bad('path', 'the text is too short for a dataset (1,000 characters at least).');
  return buildDataset(text, {
    id: o.id,
    name: o.title ?? o.id,
    source: o.source,
    license: o.license ?? 'unspecified',
    tokenizer,
  });
}
