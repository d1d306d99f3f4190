import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { WANDB_SWEEP_YAML } from '../../shared/cases/briefs.ts';
import { sha256 } from '../../shared/crypto.ts';
import { PRESETS } from '../../shared/model/presets.ts';
import type { CampaignProgress, CorpusRecord } from '../../shared/protocol.ts';
import { briefIssues, checkBrief, TabgridError } from '../../shared/researcher-client.ts';
import type { ExperimentSpec } from '../../shared/spec.ts';
import {
  corpusParquet,
  datasetFromBytes,
  PARQUET_COLUMNS,
  parseBriefText,
  progressBar,
  resolveConnection,
} from './tabgrid-cli.ts';

const YAML_BRIEF = `# a sweep over the learning rate and width
name: Width sweep
brief: >-
  Does width or depth matter more
  for a tiny char model?
template: gpt-char
datasetId: test
searchSpace:
  lr: { kind: log-uniform, min: 3.0e-4, max: 3.0e-3 }
  nEmbd: { kind: choice, values: [32, 64] }
experiments: 6
steps: 200
seed: 7
`;

describe('brief files', () => {
  it('reads YAML and JSON into the same brief', () => {
    const yaml = parseBriefText(YAML_BRIEF, 'brief.yaml');
    expect(briefIssues(yaml)).toEqual([]);
    expect(yaml).toMatchObject({
      brief: 'Does width or depth matter more for a tiny char model?',
      searchSpace: { lr: { kind: 'log-uniform', min: 3e-4, max: 3e-3 } },
    });
    expect(parseBriefText(JSON.stringify(yaml), 'brief.JSON')).toEqual(yaml);
  });

  it('reads a W&B sweep in YAML as an ASHA brief, and names the key it cannot map', () => {
    const sweep = WANDB_SWEEP_YAML;
    expect(checkBrief(parseBriefText(sweep, 'sweep.yaml'))).toMatchObject({
      experiments: 9,
      steps: 30,
      strategy: { kind: 'asha', eta: 3, maxSteps: 270 },
      searchSpace: { lr: { kind: 'log-uniform', min: 1e-4, max: 1e-2 } },
    });
    const bad = parseBriefText(sweep.replace('log_uniform_values', 'beta'), 'sweep.yaml');
    expect(() => checkBrief(bad)).toThrow(/at parameters\.learning_rate\.distribution: .*"beta"/);
  });

  it('names the line of a syntax error, and the field of a schema error', () => {
    expect(() => parseBriefText('name: [unclosed\nsteps: 3', 'b.yml')).toThrow(
      /^b\.yml is not valid YAML \(line \d\)/,
    );
    expect(() => parseBriefText('{"name": ', 'b.json')).toThrow(TabgridError);
    const bad = parseBriefText(YAML_BRIEF.replace('min: 3.0e-4', 'min: -1'), 'b.yaml');
    expect(briefIssues(bad)).toEqual([
      { path: 'searchSpace.lr.min', message: expect.stringMatching(/too small/i) },
    ]);
  });
});

describe('connection', () => {
  const files = (map: Record<string, string>) => (p: string) => map[p] ?? null;
  const env = { XDG_CONFIG_HOME: '/cfg' };

  it('takes the URL and token from flags, then the environment, then the config file', () => {
    const config = files({
      '/cfg/tabgrid/config.json': '{"url": "https://c", "token": "from-config"}',
    });
    expect(resolveConnection({}, env, files({}))).toEqual({ url: 'http://localhost:8787' });
    expect(resolveConnection({}, env, config)).toEqual({
      url: 'https://c',
      token: 'from-config',
      tokenFrom: 'config',
    });
    expect(
      resolveConnection({}, { ...env, TABGRID_TOKEN: 'e', TABGRID_URL: 'https://e' }, config),
    ).toEqual({ url: 'https://e', token: 'e', tokenFrom: 'env' });
    expect(
      resolveConnection(
        { tokenFile: '/t', url: 'https://f' },
        { ...env, TABGRID_TOKEN: 'e' },
        files({ '/t': 'from-file\n' }),
      ),
    ).toEqual({ url: 'https://f', token: 'from-file', tokenFrom: 'file' });
    expect(() => resolveConnection({}, env, files({ '/cfg/tabgrid/config.json': '{' }))).toThrow(
      /not valid JSON/,
    );
  });
});

describe('progress bar', () => {
  it('draws verified and disputed experiments and says what is left', () => {
    const p: CampaignProgress = {
      experiments: 10,
      queued: 3,
      running: 2,
      awaitingReplica: 0,
      verified: 4,
      disputed: 1,
      remainingTokens: 1,
      fleet: { volunteers: 2, tokensPerSec: 1234.4 },
      etaSeconds: 600,
      updatedAt: 0,
    };
    expect(progressBar(p, 10)).toBe(
      '[████▒░░░░░]  50%  4/10 verified · 1 disputed · 2 training · 3 queued · 2 volunteers, 1234 tok/s · ETA 10m',
    );
  });
});

function record(i: number, parent: boolean): CorpusRecord {
  const p = PRESETS.tiny;
  const spec: ExperimentSpec = {
    template: 'gpt-char',
    dataset: { id: 'test', sha256: 'a'.repeat(64) },
    model: { ...p.model, vocabSize: 40 },
    train: { ...p.train, lr: 1e-3 * (i + 1) },
    seed: i + 1,
    evalWindows: p.evalWindows,
    ...(parent && { parent: { experimentId: 'e0', checkpointSha256: 'b'.repeat(64), step: 30 } }),
  };
  const metrics = {
    valBpb: 3 - i / 10,
    valLoss: 2,
    curve: [4, 3.5, 3],
    steps: 30,
    tokens: 3840,
    backend: 'wasm' as const,
    wallMs: 1,
    msPerStep: 1,
  };
  return {
    experimentId: `e${i}`,
    campaignId: 'c1',
    specHash: 'c'.repeat(64),
    seed: spec.seed,
    config: { lr: spec.train.lr },
    spec,
    metrics: {
      valBpb: 3 - i / 10,
      curve: [4, 3.5, 3],
      curveEvery: 10,
      tokens: 3840,
      flops: 1.5e12,
    },
    verifiedAt: Date.UTC(2026, 0, 1) + i,
    parentId: parent ? 'e0' : null,
    checkpointSha256: parent ? 'd'.repeat(64) : null,
    replicas: [
      { resultId: `r${i}a`, volunteerId: 'v1', verdict: 'valid', submittedAt: 1, metrics },
      {
        resultId: `r${i}b`,
        volunteerId: 'v2',
        verdict: 'valid',
        submittedAt: 2,
        metrics: { ...metrics, backend: 'webgpu' },
      },
      {
        resultId: `r${i}c`,
        volunteerId: 'v3',
        verdict: 'invalid',
        submittedAt: 3,
        metrics: { ...metrics, valBpb: 9 },
      },
    ],
  };
}

describe('corpus as Parquet', () => {
  it('writes a file hyparquet reads back: typed columns, lists and nulls', async () => {
    const bytes = corpusParquet([record(0, false), record(1, true)]);
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    expect(new TextDecoder().decode(bytes.slice(0, 4))).toBe('PAR1');
    const metadata = parquetMetadata(file as ArrayBuffer);
    expect(Number(metadata.num_rows)).toBe(2);
    expect(parquetSchema(metadata).children.map((c) => c.element.name)).toEqual(
      PARQUET_COLUMNS.map(([name]) => name),
    );
    const rows = await parquetReadObjects({ file: file as ArrayBuffer });
    expect(rows[0]).toMatchObject({
      experiment_id: 'e0',
      seed: 1n,
      n_embd: 32,
      bias: false,
      lr: 1e-3,
      parent_id: null,
      start_step: 0,
      tokens: 3840n,
      flops: 1.5e12,
      val_bpb: 3,
      verified_at: new Date(Date.UTC(2026, 0, 1)),
      replicas: 2,
      results: 3,
      backends: ['wasm', 'webgpu'],
      replica_val_bpb: [3, 3, 9],
      replica_verdicts: ['valid', 'valid', 'invalid'],
      curve: [4, 3.5, 3],
    });
    expect(rows[1]).toMatchObject({
      experiment_id: 'e1',
      parent_id: 'e0',
      parent_checkpoint_sha256: 'b'.repeat(64),
      start_step: 30,
      checkpoint_sha256: 'd'.repeat(64),
    });
  });

  it('writes an empty corpus as a valid file with every column', () => {
    const bytes = corpusParquet([]);
    const metadata = parquetMetadata(bytes.buffer as ArrayBuffer);
    expect(Number(metadata.num_rows)).toBe(0);
    expect(parquetSchema(metadata).children).toHaveLength(PARQUET_COLUMNS.length);
  });
});

describe('dataset add', () => {
  const text = new TextEncoder().encode('Notes from the lab: ünïcödé, 漢字.\n'.repeat(100));
  const opts = { id: 'lab-notes', source: 'notes.txt' };

  it('builds the token files and manifest with the chosen tokenizer', async () => {
    const byte = await datasetFromBytes(text, { ...opts, tokenizer: 'byte', license: 'CC0-1.0' });
    expect(byte.manifest).toMatchObject({
      id: 'lab-notes',
      name: 'lab-notes',
      source: 'notes.txt',
      license: 'CC0-1.0',
      tokenizer: 'byte',
      sourceSha256: await sha256(text),
    });
    expect(byte.train.length + byte.val.length).toBe(text.length);
    const char = await datasetFromBytes(text, { ...opts, sha256: await sha256(text) });
    expect(char.manifest.tokenizer).toBe('char'); // recorded: provenance
    expect(char.manifest.vocab.length).toBeLessThan(40);
  });

  it('refuses a bad name, tokenizer, hash or encoding, naming the option', async () => {
    const issue = (o: Partial<typeof opts> & Record<string, string>, bytes = text) =>
      datasetFromBytes(bytes, { ...opts, ...o }).then(
        () => null,
        (e: TabgridError) => e.issues[0]?.path,
      );
    expect(await issue({ id: 'Lab Notes' })).toBe('name');
    expect(await issue({ tokenizer: 'bpe' })).toBe('tokenizer');
    expect(await issue({ sha256: '0'.repeat(64) })).toBe('sha256');
    expect(
      await issue(
        {},
        Uint8Array.from({ length: 2000 }, () => 0xff),
      ),
    ).toBe('path');
    expect(await issue({}, text.slice(0, 100))).toBe('path');
  });
});

describe('npm run tabgrid', () => {
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['scripts/tabgrid.ts', ...args], {
      env: { ...process.env, TABGRID_URL: 'http://127.0.0.1:9', TABGRID_TOKEN: '' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );

  it('refuses a bad brief before contacting the edge, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabgrid-cli-'));
    const file = join(dir, 'brief.yaml');
    writeFileSync(file, YAML_BRIEF.replace('min: 3.0e-4', 'min: -1'));
    const { code, stderr } = await run(['campaign', 'create', file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^invalid_brief: Invalid brief at searchSpace\.lr\.min: /);
    expect(stderr).toMatch(/\n {2}searchSpace\.lr\.min: Too small/);
  });

  it('prints its usage for an unknown command', async () => {
    const { code, stderr } = await run(['campaign', 'frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^usage: npm run tabgrid/);
  });
});
