// `npm run calibrate`: measures how far honest replicas of one spec drift apart across TensorFlow.js
// backends (same seed, same batches: wasm vs cpu, and software WebGPU on the tiny preset) and against
// PyTorch (scripts/reference: the same weights and batches in another framework, standing in for
// the GPUs this machine does not have), against
// how far results move when the experiment itself changes (another seed; the same weights with
// another batch order; another initialisation with the same batches). It then writes TAU_BPB and
// TAU_CURVE into shared/verify.ts with the figures: a tolerance must pass the first kind of pair and
// should reject the second. Runs in headless Chromium through the benchmark page; ~15 min on 2 cores.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDataset, type DatasetId } from '../datasets/build.ts';
import { PRESETS, type PresetName } from '../shared/model/presets.ts';
import type { ExperimentSpec } from '../shared/spec.ts';
import { median } from '../shared/verify.ts';
import type { BenchBackend, BenchRequest } from '../web/src/bench/types.ts';
import { openBench } from './bench-browser.ts';
import { findPython, runPytorch } from './reference/pytorch.ts';
import { ROOT } from './wrangler.ts';

const { values: opt } = parseArgs({
  options: {
    presets: { type: 'string', default: 'tiny,demo' },
    dataset: { type: 'string', default: 'sotu' },
    seeds: { type: 'string', default: '1,2,3' },
    backends: { type: 'string', default: 'wasm,cpu,webgpu' }, // webgpu: the tiny preset only (SwiftShader)
    'slow-seeds': { type: 'string', default: '1' }, // seeds the cpu backend runs beyond the tiny preset
    'no-pytorch': { type: 'boolean', default: false },
    safety: { type: 'string', default: '3' }, // TAU = safety × the largest cross-backend gap
    'no-write': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => {
  if (!/ step \d/.test(line)) process.stderr.write(`${line}\n`);
};
const seeds = opt.seeds.split(',').map(Number);
const datasetId = opt.dataset as DatasetId;
const { manifest, manifestSha256, dir } = await ensureDataset(datasetId, { log });
const python = opt['no-pytorch'] ? null : findPython();
if (!opt['no-pytorch'] && !python) log('PyTorch is not importable: calibrating on the TensorFlow.js backends alone');

interface Run {
  valBpb: number;
  curve: number[];
}
type Kind = 'backend' | 'pytorch' | 'seed' | 'batch order' | 'init';
interface Pair {
  preset: string;
  kind: Kind;
  what: string;
  dBpb: number;
  dCurve: number; // max over the curve's segments
}

const gap = (a: Run, b: Run) => ({
  dBpb: Math.abs(a.valBpb - b.valBpb),
  dCurve: Math.max(...a.curve.map((x, i) => Math.abs(x - b.curve[i]!))),
});

const bench = await openBench(log);
const pairs: Pair[] = [];
const t0 = performance.now();
try {
  for (const presetName of opt.presets.split(',') as PresetName[]) {
    const preset = PRESETS[presetName];
    const spec = (seed: number): ExperimentSpec => ({
      template: 'gpt-char',
      dataset: { id: datasetId, sha256: manifestSha256 },
      model: { ...preset.model, vocabSize: manifest.vocab.length },
      train: preset.train,
      seed,
      evalWindows: preset.evalWindows,
    });
    const run = async (backend: BenchBackend, seed: number, variant?: BenchRequest['variant']): Promise<Run> => {
      const t = performance.now();
      const r = await bench.run({ backend, spec: spec(seed), datasetId, variant });
      log(`${presetName} ${backend} seed ${seed}${variant ? ` ${JSON.stringify(variant)}` : ''}: val_bpb ${r.valBpb.toFixed(5)} (${((performance.now() - t) / 1000).toFixed(0)} s)`);
      return { valBpb: r.valBpb, curve: r.curve };
    };
    const backends = opt.backends.split(',').filter((b) => b !== 'webgpu' || presetName === 'tiny') as BenchBackend[];
    // Software WebGPU (~40 s per tiny run) and, beyond tiny, the JS cpu backend (minutes) run fewer seeds.
    const slow = presetName === 'tiny' ? 2 : Number(opt['slow-seeds']);
    const base = new Map<string, Run>(); // `${backend}:${seed}`
    for (const backend of backends) {
      for (const seed of backend === 'wasm' ? seeds : seeds.slice(0, slow)) base.set(`${backend}:${seed}`, await run(backend, seed));
    }
    const add = (kind: Kind, what: string, a: Run, b: Run) => pairs.push({ preset: presetName, kind, what, ...gap(a, b) });
    for (const seed of seeds) {
      const here = backends.filter((b) => base.has(`${b}:${seed}`));
      for (let i = 0; i < here.length; i++) {
        for (let j = i + 1; j < here.length; j++) add('backend', `${here[i]} vs ${here[j]}, seed ${seed}`, base.get(`${here[i]}:${seed}`)!, base.get(`${here[j]}:${seed}`)!);
      }
    }
    const ref = backends[0]!;
    for (const seed of python ? seeds : []) {
      const t = performance.now();
      const r = await runPytorch(python!, spec(seed), dir, { warmup: 0, threads: 1 });
      log(`${presetName} pytorch seed ${seed}: val_bpb ${r.valBpb.toFixed(5)} (${((performance.now() - t) / 1000).toFixed(0)} s)`);
      add('pytorch', `${ref} vs pytorch, seed ${seed}`, base.get(`${ref}:${seed}`)!, r);
    }
    for (let i = 0; i < seeds.length; i++) {
      for (let j = i + 1; j < seeds.length; j++) add('seed', `${ref} seeds ${seeds[i]} vs ${seeds[j]}`, base.get(`${ref}:${seeds[i]}`)!, base.get(`${ref}:${seeds[j]}`)!);
    }
    for (const seed of seeds) {
      const a = base.get(`${ref}:${seed}`)!;
      add('batch order', `${ref} seed ${seed}, batches of seed ${seed + 1000}`, a, await run(ref, seed, { batchSeed: seed + 1000 }));
      add('init', `${ref} seed ${seed}, weights of seed ${seed + 1000}`, a, await run(ref, seed, { initSeed: seed + 1000 }));
    }
    // Self-check: the variant mechanism with the spec's own seeds must reproduce the run exactly.
    const same = await run(ref, seeds[0]!, { initSeed: seeds[0]!, batchSeed: seeds[0]! });
    const d = gap(same, base.get(`${ref}:${seeds[0]}`)!);
    if (d.dBpb !== 0 || d.dCurve !== 0) throw new Error(`a step-0 checkpoint did not reproduce the run (${JSON.stringify(d)})`);
  }
} finally {
  await bench.close();
}

// --- summary and tolerances ------------------------------------------------------------------------
const kinds: Kind[] = ['backend', 'pytorch', 'seed', 'batch order', 'init'];
const stats = (xs: number[]) => ({ n: xs.length, min: Math.min(...xs), median: median(xs), max: Math.max(...xs) });
const summary = Object.fromEntries(
  kinds.map((k) => {
    const ps = pairs.filter((p) => p.kind === k);
    return [k, { bpb: stats(ps.map((p) => p.dBpb)), curve: stats(ps.map((p) => p.dCurve)) }];
  }),
) as Record<Kind, { bpb: ReturnType<typeof stats>; curve: ReturnType<typeof stats> }>;
for (const p of pairs) log(`${p.preset.padEnd(5)} ${p.kind.padEnd(11)} |Δ val_bpb| ${p.dBpb.toExponential(2)}  max |Δ curve| ${p.dCurve.toExponential(2)}  ${p.what}`);

/** Rounded up to two significant digits, so the constant reads as what it is: an estimate. */
const roundUp = (x: number) => {
  const e = 10 ** (Math.floor(Math.log10(x)) - 1);
  return Math.ceil(x / e) * e;
};
const safety = Number(opt.safety);
const honest = pairs.filter((p) => p.kind === 'backend' || p.kind === 'pytorch'); // same experiment
const tauBpb = roundUp(safety * Math.max(...honest.map((p) => p.dBpb)));
const tauCurve = roundUp(safety * Math.max(...honest.map((p) => p.dCurve)));
const others = pairs.filter((p) => !honest.includes(p));
const caught = (p: Pair) => p.dBpb > tauBpb || p.dCurve > tauCurve;
const result = {
  command: `npm run calibrate -- ${process.argv.slice(2).join(' ')}`.trim(),
  presets: opt.presets,
  dataset: datasetId,
  seeds,
  minutes: (performance.now() - t0) / 60_000,
  summary,
  tauBpb,
  tauCurve,
  rejected: `${others.filter(caught).length}/${others.length}`,
  missed: others.filter((p) => !caught(p)).map((p) => `${p.preset} ${p.kind}: ${p.what}`),
};
log(`TAU_BPB ${tauBpb}, TAU_CURVE ${tauCurve} (${safety}× the largest gap between implementations); they reject ${result.rejected} pairs of different experiments`);

function fmt(s: ReturnType<typeof stats>): string {
  return `median ${s.median.toPrecision(2)}, max ${s.max.toPrecision(2)}${s.n > 1 ? `, min ${s.min.toPrecision(2)}` : ''} (${s.n})`;
}

/** Replaces the tolerance block of shared/verify.ts: the doc comment and the two constants. */
function writeTolerances(): void {
  const file = join(ROOT, 'shared', 'verify.ts');
  const src = readFileSync(file, 'utf8');
  const block = /\/\*\*\n \* Tolerances\.[\s\S]*?export const TAU_CURVE = [^;]+;/;
  if (!block.test(src)) throw new Error('shared/verify.ts: the tolerance block was not found');
  const date = new Date().toISOString().slice(0, 10);
  const text = `/**
 * Tolerances. Calibrated ${date} by \`${result.command}\` (headless Chromium 2-core Linux, TF.js 4.22;
 * presets ${opt.presets} on ${datasetId}, seeds ${seeds.join(', ')}, ${result.minutes.toFixed(0)} min). Pairs of runs, |Δ final val_bpb| / max |Δ curve|:
 * - same spec on another backend (${opt.backends}): ${fmt(summary.backend.bpb)} / ${fmt(summary.backend.curve)}
 * - same spec in PyTorch (same weights and batches): ${python ? `${fmt(summary.pytorch.bpb)} / ${fmt(summary.pytorch.curve)}` : 'not run'}
 * - another seed: ${fmt(summary.seed.bpb)} / ${fmt(summary.seed.curve)}
 * - same weights, another batch order: ${fmt(summary['batch order'].bpb)} / ${fmt(summary['batch order'].curve)}
 * - same batches, other initial weights: ${fmt(summary.init.bpb)} / ${fmt(summary.init.curve)}
 * Each tolerance is ${safety}× the largest gap between implementations; together they reject ${result.rejected} of the pairs of
 * different experiments above. Longer runs drift further apart (chaos): re-run for new presets.
 * TAU_BPB: |Δ final val_bpb| in bits per byte. TAU_CURVE: max |Δ| of the segment-mean training loss.
 */
export const TAU_BPB = ${tauBpb};
export const TAU_CURVE = ${tauCurve};`;
  writeFileSync(file, src.replace(block, text));
  log(`wrote TAU_BPB = ${tauBpb} and TAU_CURVE = ${tauCurve} into shared/verify.ts`);
}
if (!opt['no-write']) writeTolerances();
if (opt.json) console.log(JSON.stringify({ ...result, pairs }));
