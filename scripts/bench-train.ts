// `npm run bench:train -- --preset nanogpt-cpu --steps 60 --json`: trains one preset in headless
// Chromium on each backend (the shared loop in a Web Worker, WASM threaded under cross-origin
// isolation; software WebGPU only for a few steps, ~14 s each) and the same spec — same weights,
// batches and recipe — in PyTorch (scripts/reference/nanogpt_cpu.py). ms/step are medians after
// the warm-up steps. The last stdout line (--json) is one JSON object:
// {preset, steps, dataset, backends: {name: {msPerStep, tokensPerSec, valBpb}}, reference, ratio}.
import { parseArgs } from 'node:util';
import { ensureDataset, type DatasetId } from '../datasets/build.ts';
import { PRESETS, type PresetName } from '../shared/model/presets.ts';
import type { ExperimentSpec } from '../shared/spec.ts';
import { median } from '../shared/verify.ts';
import type { BenchBackend, BenchResult } from '../web/src/bench/types.ts';
import { openBench } from './bench-browser.ts';
import { findPython, NO_TORCH, runPytorch, type PytorchRun } from './reference/pytorch.ts';

const { values: opt } = parseArgs({
  options: {
    preset: { type: 'string', default: 'nanogpt-cpu' },
    steps: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' }, // steps left out of the median
    backends: { type: 'string', default: 'wasm,webgpu' }, // any of wasm, webgpu, cpu
    'webgpu-steps': { type: 'string', default: '3' }, // SwiftShader: ~14 s/step on nanogpt-cpu
    dataset: { type: 'string' }, // default: tinyshakespeare for nanogpt-*, else sotu
    seed: { type: 'string', default: '1' },
    threads: { type: 'string' }, // WASM threads (default: every core; tfjs caps them at cores / 2)
    profile: { type: 'string', default: '0' }, // profile this many extra steps per backend
    'no-reference': { type: 'boolean', default: false },
    'torch-threads': { type: 'string' }, // default: as many as the WASM backend got (like for like)
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const preset = PRESETS[opt.preset as PresetName];
if (!preset) throw new Error(`unknown preset ${opt.preset}; one of ${Object.keys(PRESETS).join(', ')}`);
const steps = Number(opt.steps);
const warmup = Number(opt.warmup);
const datasetId = (opt.dataset ?? (opt.preset.startsWith('nanogpt') ? 'tinyshakespeare' : 'sotu')) as DatasetId;
const { manifest, manifestSha256, dir } = await ensureDataset(datasetId, { log });

function specFor(n: number, evalWindows = preset.evalWindows): ExperimentSpec {
  return {
    template: 'gpt-char',
    dataset: { id: datasetId, sha256: manifestSha256 },
    model: { ...preset.model, vocabSize: manifest.vocab.length },
    train: { ...preset.train, steps: n },
    seed: Number(opt.seed),
    evalWindows,
  };
}

const tokensPerStep = preset.train.batchSize * preset.model.blockSize;
const timing = (stepMs: number[]) => {
  const ms = median(stepMs.slice(Math.min(warmup, stepMs.length - 1)));
  return { msPerStep: ms, tokensPerSec: (tokensPerStep * 1000) / ms };
};

// --- browsers ------------------------------------------------------------------------------------
interface BackendSummary { msPerStep: number; tokensPerSec: number; valBpb: number; steps: number; evalWindows: number; threads?: number; adapter?: string }
const backends: Record<string, BackendSummary> = {};
const raw: Partial<Record<BenchBackend, BenchResult>> = {};
const bench = await openBench(log);
try {
  for (const name of opt.backends.split(',').filter(Boolean) as BenchBackend[]) {
    // Software WebGPU: a few steps, and 16 eval windows instead of the preset's (each ~seconds).
    const spec = name === 'webgpu' ? specFor(Math.min(steps, Number(opt['webgpu-steps'])), 16) : specFor(steps);
    log(`${name}: ${spec.train.steps} steps of ${opt.preset} on ${datasetId}`);
    try {
      const r = await bench.run({ backend: name, spec, datasetId, threads: opt.threads ? Number(opt.threads) : undefined, profileSteps: Number(opt.profile) });
      raw[name] = r;
      backends[name] = { ...timing(r.stepMs), valBpb: r.valBpb, steps: spec.train.steps, evalWindows: spec.evalWindows, threads: r.info.threads, adapter: r.info.adapter };
      if (r.profile) {
        log(`${name} kernel profile (per step): wall ${r.profile.wallMs.toFixed(1)} ms, kernels ${r.profile.kernelMs.toFixed(1)} ms`);
        for (const k of r.profile.kernels.slice(0, 25)) log(`  ${k.name.padEnd(24)} ${k.ms.toFixed(2).padStart(8)} ms  ${k.calls.toFixed(0).padStart(5)} calls`);
      }
    } catch (err) {
      log(`${name}: skipped (${(err as Error).message})`);
    }
  }
} finally {
  await bench.close();
}

// --- PyTorch -------------------------------------------------------------------------------------
async function runReference(): Promise<{ reference: PytorchRun | null; note?: string }> {
  if (opt['no-reference']) return { reference: null, note: 'disabled by --no-reference' };
  const py = findPython();
  if (!py) return { reference: null, note: NO_TORCH };
  const threads = Number(opt['torch-threads'] ?? backends['wasm']?.threads ?? 1);
  try {
    return { reference: await runPytorch(py, specFor(steps), dir, { warmup, threads }) };
  } catch (err) {
    return { reference: null, note: (err as Error).message };
  }
}
log(`pytorch: ${steps} steps of ${opt.preset} on ${datasetId}`);
const { reference, note } = await runReference();

// --- report --------------------------------------------------------------------------------------
const best = Math.max(0, ...Object.values(backends).map((b) => b.tokensPerSec));
const ratio = reference && best > 0 ? best / reference.tokensPerSec : null;
// Same weights and batches: the first losses must agree across frameworks (a whole-stack check).
const agreement = Object.fromEntries(
  Object.entries(raw).map(([name, r]) => {
    const n = Math.min(r.losses.length, reference?.losses.length ?? 0, 10);
    const gap = Math.max(0, ...Array.from({ length: n }, (_, i) => Math.abs(r.losses[i]! - reference!.losses[i]!)));
    return [name, n ? { firstSteps: n, maxLossGapVsPytorch: gap } : null];
  }),
);
for (const [name, b] of Object.entries(backends)) {
  log(`${name.padEnd(8)} ${b.msPerStep.toFixed(1).padStart(8)} ms/step ${b.tokensPerSec.toFixed(0).padStart(7)} tok/s  val_bpb ${b.valBpb.toFixed(4)} (${b.steps} steps)`);
}
if (reference) log(`pytorch  ${reference.msPerStep.toFixed(1).padStart(8)} ms/step ${reference.tokensPerSec.toFixed(0).padStart(7)} tok/s  val_bpb ${reference.valBpb.toFixed(4)} (torch ${reference.version}, ${reference.threads} threads)`);
else log(`pytorch: none (${note})`);
if (ratio !== null) log(`ratio (best browser tok/s / PyTorch tok/s): ${ratio.toFixed(3)}`);
log(`loss agreement with PyTorch over the first steps: ${JSON.stringify(agreement)}`);

const summary = {
  preset: opt.preset,
  steps,
  dataset: datasetId,
  backends: Object.fromEntries(Object.entries(backends).map(([k, b]) => [k, { msPerStep: b.msPerStep, tokensPerSec: b.tokensPerSec, valBpb: b.valBpb, steps: b.steps, evalWindows: b.evalWindows, threads: b.threads, adapter: b.adapter }])),
  reference: reference ? { name: reference.name, msPerStep: reference.msPerStep, tokensPerSec: reference.tokensPerSec, valBpb: reference.valBpb, threads: reference.threads, version: reference.version } : null,
  ...(note ? { referenceNote: note } : {}),
  ratio,
};
if (opt.json) console.log(JSON.stringify(summary));
