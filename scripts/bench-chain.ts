// `npm run bench:chain -- --json`: a lineage against one run (docs/lineage.md). The same spec —
// nanoGPT's CPU recipe, 2,000 steps by default — is trained once uninterrupted and once as a chain
// of segments (8 × 250), each segment in the other of two separate headless Chromium browsers,
// starting from the bytes the previous segment ended with, fetched and checked against their hash
// as a volunteer's browser does. Both browsers train on WASM, one with the trainer's threads and
// one with a single thread (another volunteer's machine). The last stdout line (--json) is
// {preset, segments, steps, uninterruptedValBpb, chainedValBpb, deltaBpb, tauBpb, withinTau,
// backends, checkpointBytes, keptBytesPer1000, segmentMs}.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDataset, type DatasetId } from '../datasets/build.ts';
import { fromBase64Url } from '../shared/crypto.ts';
import { continuationSpec, segmentRoot } from '../shared/lineage.ts';
import { PRESETS, type PresetName } from '../shared/model/presets.ts';
import type { ExperimentSpec } from '../shared/spec.ts';
import { median, TAU_BPB } from '../shared/verify.ts';
import type { BenchRequest, BenchResult } from '../web/src/bench/types.ts';
import { buildBenchPage, openBench } from './lib/bench-browser.ts';

const { values: opt } = parseArgs({
  options: {
    preset: { type: 'string', default: 'nanogpt-cpu' },
    steps: { type: 'string' }, // default: the preset's
    segments: { type: 'string', default: '8' },
    dataset: { type: 'string' }, // default: tinyshakespeare for nanogpt-*, else sotu
    seed: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const preset = PRESETS[opt.preset as PresetName];
if (!preset)
  throw new Error(`unknown preset ${opt.preset}; one of ${Object.keys(PRESETS).join(', ')}`);
const steps = Number(opt.steps ?? preset.train.steps);
const segments = Number(opt.segments);
if (!Number.isInteger(steps / segments))
  throw new Error(`${steps} steps do not cut into ${segments} equal segments`);
const datasetId = (opt.dataset ??
  (opt.preset.startsWith('nanogpt') ? 'tinyshakespeare' : 'sotu')) as DatasetId;
const { manifest, manifestSha256 } = await ensureDataset(datasetId, { log });

const whole: ExperimentSpec = {
  template: 'gpt-char',
  dataset: { id: datasetId, sha256: manifestSha256 },
  model: { ...preset.model, vocabSize: manifest.vocab.length },
  train: { ...preset.train, steps },
  seed: Number(opt.seed),
  evalWindows: preset.evalWindows,
};

await buildBenchPage(log);
const folder = mkdtempSync(join(tmpdir(), 'tabgrid-chain-'));
// Two volunteers' browsers, and a third for the uninterrupted run, trained at the same time.
const volunteers = [
  { name: 'wasm', session: await openBench(log, undefined, folder), threads: undefined },
  { name: 'wasm-1t', session: await openBench(log, undefined, folder), threads: 1 },
];
const reference = await openBench(log, undefined, folder);
const base = (req: Omit<BenchRequest, 'datasetId' | 'backend'>): BenchRequest => ({
  backend: 'wasm',
  datasetId,
  ...req,
});

try {
  const t0 = performance.now();
  const uninterrupted = reference.run(base({ spec: whole }));
  let spec = segmentRoot(whole, steps / segments);
  let parent: BenchResult['final'];
  const segmentMs: number[] = [];
  let chained: BenchResult | undefined;
  for (let k = 0; k < segments; k++) {
    const v = volunteers[k % 2]!;
    const t = performance.now();
    chained = await v.session.run(
      base({
        spec,
        threads: v.threads,
        keepFinal: true,
        ...(parent && { resume: { url: `/ckpt/${parent.sha256}`, sha256: parent.sha256 } }),
      }),
    );
    segmentMs.push(performance.now() - t);
    parent = chained.final!;
    writeFileSync(join(folder, parent.sha256), fromBase64Url(parent.base64));
    log(
      `segment ${k + 1}/${segments} on ${v.name}: val_bpb ${chained.valBpb.toFixed(5)}, checkpoint ${(parent.bytes / 1e6).toFixed(1)} MB`,
    );
    spec = continuationSpec(spec, `segment-${k}`, parent.sha256);
  }
  const full = await uninterrupted;
  const delta = Math.abs(chained!.valBpb - full.valBpb);
  // Storage (docs/lineage.md): a campaign of 1,000 experiments as chains of this length keeps each
  // lineage's frontier and its best — one checkpoint per lineage when the last segment is the best.
  const lineages = Math.ceil(1000 / segments);
  const report = {
    preset: opt.preset,
    segments,
    steps,
    uninterruptedValBpb: full.valBpb,
    chainedValBpb: chained!.valBpb,
    deltaBpb: delta,
    tauBpb: TAU_BPB,
    withinTau: delta <= TAU_BPB,
    backends: volunteers.map((v) => v.name),
    checkpointBytes: parent!.bytes,
    keptBytesPer1000: {
      lineages,
      atMost: 2 * lineages * parent!.bytes,
      chains: lineages * parent!.bytes,
    },
    segmentMs: Math.round(median(segmentMs)),
    wallS: Math.round((performance.now() - t0) / 1000),
  };
  log(
    `chain of ${segments} × ${steps / segments} steps: ${report.chainedValBpb.toFixed(5)} vs uninterrupted ${report.uninterruptedValBpb.toFixed(5)} (Δ ${delta.toExponential(2)}, TAU_BPB ${TAU_BPB})`,
  );
  console.log(opt.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
} finally {
  for (const s of [...volunteers.map((v) => v.session), reference]) await s.close();
  rmSync(folder, { recursive: true, force: true });
}
