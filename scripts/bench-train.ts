// `npm run bench:train -- --preset nanogpt-cpu --steps 60 --json`: trains one preset in headless
// Chromium on each backend (the shared loop in a Web Worker, WASM threaded under cross-origin
// isolation; software WebGPU only for a few steps, ~14 s each) and the same spec — same weights,
// batches and recipe — in PyTorch (scripts/reference/nanogpt_cpu.py). ms/step are medians after
// the warm-up steps. `--threads 1,2` runs WASM once per thread count (entries wasm-1t, wasm-2t);
// PyTorch runs with 1 thread and with each count WASM got. The last stdout line (--json) is one JSON
// object: {preset, steps, dataset, backends: {name: {msPerStep, tokensPerSec, valBpb}}, reference,
// ratio, ratios}: ratio is the best browser entry over the fastest PyTorch run (`reference`), ratios
// each entry over PyTorch with as many threads. Best against best, because on a shared 2-core machine
// PyTorch's OpenMP with 2 threads ran 2–6× slower than with 1 (November 2026), which flatters ratios.
import { parseArgs } from 'node:util';
import { ensureDataset, type DatasetId } from '../datasets/build.ts';
import { PRESETS, type PresetName } from '../shared/model/presets.ts';
import type { ExperimentSpec } from '../shared/spec.ts';
import { median } from '../shared/verify.ts';
import type { BenchBackend, BenchResult } from '../web/src/bench/types.ts';
import { openBench } from './lib/bench-browser.ts';
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
    threads: { type: 'string' }, // WASM threads, or a list (1,2); default the trainer's, min(cores, 4)
    profile: { type: 'string', default: '0' }, // profile this many extra steps per backend
    'no-reference': { type: 'boolean', default: false },
    'torch-threads': { type: 'string' }, // default: 1 and as many as each WASM run got
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const preset = PRESETS[opt.preset as PresetName];
if (!preset)
  throw new Error(`unknown preset ${opt.preset}; one of ${Object.keys(PRESETS).join(', ')}`);
const steps = Number(opt.steps);
const warmup = Number(opt.warmup);
const datasetId = (opt.dataset ??
  (opt.preset.startsWith('nanogpt') ? 'tinyshakespeare' : 'sotu')) as DatasetId;
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
interface BackendSummary {
  msPerStep: number;
  tokensPerSec: number;
  valBpb: number;
  steps: number;
  evalWindows: number;
  threads?: number;
  adapter?: string;
}
const backends: Record<string, BackendSummary> = {};
const raw: Record<string, BenchResult> = {};
const threadCounts = opt.threads ? opt.threads.split(',').map(Number) : [undefined];
const runs = (opt.backends.split(',').filter(Boolean) as BenchBackend[]).flatMap(
  (backend): { name: string; backend: BenchBackend; threads?: number }[] =>
    backend === 'wasm' && threadCounts.length > 1
      ? threadCounts.map((threads) => ({ name: `wasm-${threads}t`, backend, threads }))
      : [{ name: backend, backend, threads: backend === 'wasm' ? threadCounts[0] : undefined }],
);
const bench = await openBench(log);
try {
  for (const { name, backend, threads } of runs) {
    // Software WebGPU: a few steps, and 16 eval windows instead of the preset's (each ~seconds).
    const spec =
      backend === 'webgpu'
        ? specFor(Math.min(steps, Number(opt['webgpu-steps'])), 16)
        : specFor(steps);
    log(`${name}: ${spec.train.steps} steps of ${opt.preset} on ${datasetId}`);
    try {
      const r = await bench.run({
        backend,
        spec,
        datasetId,
        threads,
        profileSteps: Number(opt.profile),
      });
      raw[name] = r;
      backends[name] = {
        ...timing(r.stepMs),
        valBpb: r.valBpb,
        steps: spec.train.steps,
        evalWindows: spec.evalWindows,
        threads: r.info.threads,
        adapter: r.info.adapter,
      };
      if (r.profile) {
        log(
          `${name} kernel profile (per step): wall ${r.profile.wallMs.toFixed(1)} ms, kernels ${r.profile.kernelMs.toFixed(1)} ms`,
        );
        for (const k of r.profile.kernels.slice(0, 25))
          log(
            `  ${k.name.padEnd(24)} ${k.ms.toFixed(2).padStart(8)} ms  ${k.calls.toFixed(0).padStart(5)} calls`,
          );
      }
    } catch (err) {
      log(`${name}: skipped (${(err as Error).message})`);
    }
  }
} finally {
  await bench.close();
}

// --- PyTorch -------------------------------------------------------------------------------------
// 1 thread, and each thread count the WASM runs got (or only --torch-threads).
const wasmThreads = Object.entries(backends)
  .filter(([k]) => k.startsWith('wasm'))
  .map(([, b]) => b.threads ?? 1);
const torchThreads = opt['torch-threads']
  ? [Number(opt['torch-threads'])]
  : [...new Set([1, ...wasmThreads])];
const references = new Map<number, PytorchRun>();
let note: string | undefined;
const py = opt['no-reference'] ? null : findPython();
if (opt['no-reference']) note = 'disabled by --no-reference';
else if (!py) note = NO_TORCH;
else {
  for (const threads of torchThreads) {
    log(`pytorch: ${steps} steps of ${opt.preset} on ${datasetId}, ${threads} threads`);
    try {
      references.set(threads, await runPytorch(py, specFor(steps), dir, { warmup, threads }));
    } catch (err) {
      note = (err as Error).message;
    }
  }
}
const referenceFor = (b: BackendSummary) =>
  references.get(b.threads ?? 1) ?? [...references.values()][0] ?? null;

// --- report --------------------------------------------------------------------------------------
const ratios = Object.fromEntries(
  Object.entries(backends).flatMap(([name, b]) => {
    const ref = referenceFor(b);
    return ref ? [[name, b.tokensPerSec / ref.tokensPerSec]] : [];
  }),
);
const best = Math.max(0, ...Object.values(backends).map((b) => b.tokensPerSec));
const reference =
  [...references.values()].sort((a, b) => b.tokensPerSec - a.tokensPerSec)[0] ?? null;
const ratio = reference && best > 0 ? best / reference.tokensPerSec : null;
// Same weights and batches: the first losses must agree across frameworks (a whole-stack check).
const agreement = Object.fromEntries(
  Object.entries(raw).map(([name, r]) => {
    const ref = referenceFor(backends[name]!);
    const n = Math.min(r.losses.length, ref?.losses.length ?? 0, 10);
    const gap = Math.max(
      0,
      ...Array.from({ length: n }, (_, i) => Math.abs(r.losses[i]! - ref!.losses[i]!)),
    );
    return [name, n ? { firstSteps: n, maxLossGapVsPytorch: gap } : null];
  }),
);
for (const [name, b] of Object.entries(backends)) {
  log(
    `${name.padEnd(8)} ${b.msPerStep.toFixed(1).padStart(8)} ms/step ${b.tokensPerSec.toFixed(0).padStart(7)} tok/s  val_bpb ${b.valBpb.toFixed(4)} (${b.steps} steps, ${b.threads ?? '-'} threads)`,
  );
}
for (const r of references.values())
  log(
    `pytorch  ${r.msPerStep.toFixed(1).padStart(8)} ms/step ${r.tokensPerSec.toFixed(0).padStart(7)} tok/s  val_bpb ${r.valBpb.toFixed(4)} (torch ${r.version}, ${r.threads} threads)`,
  );
if (!references.size) log(`pytorch: none (${note})`);
if (ratio !== null)
  log(
    `ratio (best browser tok/s / fastest PyTorch tok/s): ${ratio.toFixed(3)}; each vs PyTorch with as many threads: ${JSON.stringify(ratios)}`,
  );
log(`loss agreement with PyTorch over the first steps: ${JSON.stringify(agreement)}`);

const refSummary = (r: PytorchRun) => ({
  name: r.name,
  msPerStep: r.msPerStep,
  tokensPerSec: r.tokensPerSec,
  valBpb: r.valBpb,
  threads: r.threads,
  version: r.version,
});
const summary = {
  preset: opt.preset,
  steps,
  dataset: datasetId,
  backends: Object.fromEntries(
    Object.entries(backends).map(([k, b]) => [
      k,
      {
        msPerStep: b.msPerStep,
        tokensPerSec: b.tokensPerSec,
        valBpb: b.valBpb,
        steps: b.steps,
        evalWindows: b.evalWindows,
        threads: b.threads,
        adapter: b.adapter,
      },
    ]),
  ),
  reference: reference ? refSummary(reference) : null,
  ...(references.size > 1 ? { references: [...references.values()].map(refSummary) } : {}),
  ...(note ? { referenceNote: note } : {}),
  ratio,
  ratios,
};
if (opt.json) console.log(JSON.stringify(summary));
