// `npm run calibrate`: measures how far honest replicas of one spec drift apart across TensorFlow.js
// backends (same seed, same batches: wasm vs cpu, and software WebGPU on the tiny preset), across
// browser engines (Firefox ESR's WASM with and without threads, WebGL with float32 render targets,
// CPU: e2e/firefox-bench.ts) and against PyTorch (scripts/reference: the same weights and batches in
// another framework, standing in for the GPUs this machine does not have), against
// how far results move when the experiment itself changes (another seed; the same weights with
// another batch order; another initialisation with the same batches). It then writes TAU_BPB and
// TAU_CURVE into shared/verify.ts with the figures: a tolerance must pass the first kind of pair and
// should reject the second. Runs in headless Chromium and Firefox ESR (headful on Xvfb for WebGL)
// through the benchmark page; ~30 min on 2 cores. A reduced run that writes nothing:
// `npm run calibrate -- --presets tiny --seeds 1,2 --no-pytorch --no-write`.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDataset, type DatasetId } from '../datasets/build.ts';
import { PRESETS, type PresetName } from '../shared/model/presets.ts';
import type { ExperimentSpec } from '../shared/spec.ts';
import { median } from '../shared/verify.ts';
import type { BenchBackend, BenchRequest } from '../web/src/bench/types.ts';
import { openBench } from './lib/bench-browser.ts';
import { openFirefoxBench, type FirefoxBench } from '../e2e/firefox-bench.ts';
import { findPython, runPytorch } from './reference/pytorch.ts';
import { ROOT } from './lib/wrangler.ts';

const { values: opt } = parseArgs({
  options: {
    presets: { type: 'string', default: 'tiny,demo' },
    dataset: { type: 'string', default: 'sotu' },
    seeds: { type: 'string', default: '1,2,3' },
    backends: { type: 'string', default: 'wasm,cpu,webgpu' }, // webgpu: the tiny preset only (SwiftShader)
    // Firefox ESR's: wasm (not cross-origin isolated: the single-threaded build), wasm-threads (the
    // threaded build, 2 threads), webgl (llvmpipe on Xvfb: the tiny preset only), cpu; 'none': skip.
    firefox: { type: 'string', default: 'wasm,wasm-threads,webgl,cpu' },
    'slow-seeds': { type: 'string', default: '1' }, // seeds the cpu backend runs beyond the tiny preset
    'no-pytorch': { type: 'boolean', default: false },
    safety: { type: 'string', default: '3' }, // TAU = the smallest gap between different experiments / safety
    from: { type: 'string' }, // a saved measurement (MEASURED): recompute and write, no training
    'no-write': { type: 'boolean', default: false }, // neither shared/verify.ts nor scripts/data/calibrate-measured.json
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => {
  if (!/ step \d/.test(line)) process.stderr.write(`${line}\n`);
};

interface Run {
  valBpb: number;
  curve: number[];
}
type Kind = 'backend' | 'engine' | 'pytorch' | 'seed' | 'batch order' | 'init';
interface Pair {
  preset: string;
  kind: Kind;
  what: string;
  dBpb: number;
  dCurve: number; // max over the curve's segments
}

/** What a calibration run measured; `--json` prints it (with the tolerances), `--from` reads it back. */
interface Measured {
  command: string;
  presets: string;
  dataset: string;
  backends: string;
  /** Firefox's backends (absent in measurements from before Firefox was calibrated). */
  firefox?: string;
  /** The browsers' versions, e.g. "chromium 156.0…", "firefox/153.8.0". */
  browsers?: string[];
  seeds: number[];
  minutes: number;
  pairs: Pair[];
}

const gap = (a: Run, b: Run) => ({
  dBpb: Math.abs(a.valBpb - b.valBpb),
  dCurve: Math.max(...a.curve.map((x, i) => Math.abs(x - b.curve[i]!))),
});

/** Trains every run of the plan in Chromium (and PyTorch) and returns the pairs to compare. */
async function measure(): Promise<Measured> {
  const seeds = opt.seeds.split(',').map(Number);
  const datasetId = opt.dataset as DatasetId;
  const { manifest, manifestSha256, dir } = await ensureDataset(datasetId, { log });
  const python = opt['no-pytorch'] ? null : findPython();
  if (!opt['no-pytorch'] && !python)
    log('PyTorch is not importable: calibrating on the TensorFlow.js backends alone');
  const bench = await openBench(log);
  // Firefox: one isolated page (threaded WASM, WebGL on a virtual display, CPU) and one that is not
  // cross-origin isolated (the single-threaded WASM build), each opened when first needed.
  const firefoxBackends = opt.firefox === 'none' ? [] : opt.firefox.split(',').filter(Boolean);
  const firefox: { isolated?: Promise<FirefoxBench>; plain?: Promise<FirefoxBench> } = {};
  const firefoxBench = (backend: string) =>
    backend === 'wasm'
      ? (firefox.plain ??= openFirefoxBench(log, { isolated: false }))
      : (firefox.isolated ??= openFirefoxBench(log, {
          display: firefoxBackends.includes('webgl'),
        }));
  const browsers = new Set<string>();
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
      /** `backend`: Chromium's name for it, or `firefox <backend>` (see the firefox option). */
      const run = async (
        backend: string,
        seed: number,
        variant?: BenchRequest['variant'],
      ): Promise<Run> => {
        const t = performance.now();
        const [engine, name] = backend.startsWith('firefox ')
          ? ['firefox', backend.slice(8)]
          : ['chromium', backend];
        const req: BenchRequest = {
          backend: (name === 'wasm-threads' ? 'wasm' : name) as BenchBackend,
          spec: spec(seed),
          datasetId,
          variant,
          ...(name === 'wasm-threads' && { threads: 2 }),
        };
        const ff = engine === 'firefox' ? await firefoxBench(name) : undefined;
        const r = ff ? await ff.run(req) : await bench.run(req);
        if (ff) browsers.add(ff.version);
        // What ran is what was asked for: the backend, float32, and WASM's thread count.
        if (r.info.backend !== req.backend || (r.info.precision ?? 'float32') !== 'float32')
          throw new Error(`${backend}: ran on ${JSON.stringify(r.info)}`);
        if (ff && req.backend === 'wasm' && r.info.threads !== (req.threads ?? 1))
          throw new Error(`${backend}: ${r.info.threads} WASM threads`);
        log(
          `${presetName} ${backend} seed ${seed}${variant ? ` ${JSON.stringify(variant)}` : ''}: val_bpb ${r.valBpb.toFixed(5)} (${((performance.now() - t) / 1000).toFixed(0)} s)`,
        );
        return { valBpb: r.valBpb, curve: r.curve };
      };
      // Software GPUs (SwiftShader's WebGPU, llvmpipe's WebGL): the tiny preset only.
      const backends = [
        ...opt.backends.split(',').filter((b) => b !== 'webgpu' || presetName === 'tiny'),
        ...firefoxBackends
          .filter((b) => b !== 'webgl' || presetName === 'tiny')
          .map((b) => `firefox ${b}`),
      ];
      // Software GPUs (~40 s per tiny run) and, beyond tiny, the JS cpu backends (minutes) and the
      // second WASM builds run fewer seeds.
      const slow = presetName === 'tiny' ? 2 : Number(opt['slow-seeds']);
      const base = new Map<string, Run>(); // `${backend}:${seed}`
      for (const backend of backends) {
        const all = backend === 'wasm' || backend === 'firefox wasm';
        for (const seed of all ? seeds : seeds.slice(0, slow))
          base.set(`${backend}:${seed}`, await run(backend, seed));
      }
      const add = (kind: Kind, what: string, a: Run, b: Run) =>
        pairs.push({ preset: presetName, kind, what, ...gap(a, b) });
      const engineOf = (b: string) => (b.startsWith('firefox ') ? 'firefox' : 'chromium');
      const label = (b: string) => (engineOf(b) === 'firefox' ? b : `chromium ${b}`);
      for (const seed of seeds) {
        const here = backends.filter((b) => base.has(`${b}:${seed}`));
        for (let i = 0; i < here.length; i++) {
          for (let j = i + 1; j < here.length; j++)
            add(
              engineOf(here[i]!) === engineOf(here[j]!) ? 'backend' : 'engine',
              `${label(here[i]!)} vs ${label(here[j]!)}, seed ${seed}`,
              base.get(`${here[i]}:${seed}`)!,
              base.get(`${here[j]}:${seed}`)!,
            );
        }
      }
      const ref = backends[0]! as BenchBackend;
      for (const seed of python ? seeds : []) {
        const t = performance.now();
        const r = await runPytorch(python!, spec(seed), dir, { warmup: 0, threads: 1 });
        log(
          `${presetName} pytorch seed ${seed}: val_bpb ${r.valBpb.toFixed(5)} (${((performance.now() - t) / 1000).toFixed(0)} s)`,
        );
        add('pytorch', `${ref} vs pytorch, seed ${seed}`, base.get(`${ref}:${seed}`)!, r);
      }
      for (let i = 0; i < seeds.length; i++) {
        for (let j = i + 1; j < seeds.length; j++)
          add(
            'seed',
            `${ref} seeds ${seeds[i]} vs ${seeds[j]}`,
            base.get(`${ref}:${seeds[i]}`)!,
            base.get(`${ref}:${seeds[j]}`)!,
          );
      }
      for (const seed of seeds) {
        const a = base.get(`${ref}:${seed}`)!;
        add(
          'batch order',
          `${ref} seed ${seed}, batches of seed ${seed + 1000}`,
          a,
          await run(ref, seed, { batchSeed: seed + 1000 }),
        );
        add(
          'init',
          `${ref} seed ${seed}, weights of seed ${seed + 1000}`,
          a,
          await run(ref, seed, { initSeed: seed + 1000 }),
        );
      }
      // Self-check: the variant mechanism with the spec's own seeds must reproduce the run exactly.
      const same = await run(ref, seeds[0]!, { initSeed: seeds[0]!, batchSeed: seeds[0]! });
      const d = gap(same, base.get(`${ref}:${seeds[0]}`)!);
      if (d.dBpb !== 0 || d.dCurve !== 0)
        throw new Error(`a step-0 checkpoint did not reproduce the run (${JSON.stringify(d)})`);
    }
    browsers.add(
      execFileSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', ['--version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .trim()
        .replace(/^Chromium /, 'chromium/')
        .replace(/ .*$/, ''),
    );
  } finally {
    await bench.close();
    for (const ff of [firefox.isolated, firefox.plain])
      await ff?.then((b) => b.close()).catch(() => undefined);
  }
  const args = process.argv.slice(2).filter((a) => a !== '--json'); // output only, not the measurement
  const command = `npm run calibrate${args.length ? ` -- ${args.join(' ')}` : ''}`;
  return {
    command,
    presets: opt.presets,
    dataset: datasetId,
    backends: opt.backends,
    ...(firefoxBackends.length && { firefox: firefoxBackends.join(',') }),
    browsers: [...browsers].sort(),
    seeds,
    minutes: (performance.now() - t0) / 60_000,
    pairs,
  };
}

// The last measurement is kept beside this script (DESIGN: write the calibration down), so that the
// tolerances can be re-derived or re-written from it with --from, without ten minutes of training.
const MEASURED = join(ROOT, 'scripts', 'data', 'calibrate-measured.json');
const measured: Measured = opt.from
  ? (JSON.parse(readFileSync(opt.from, 'utf8')) as Measured)
  : await measure();
// --no-write: neither the tolerances nor the record (a reduced run must not replace the full one).
if (!opt.from && !opt['no-write']) {
  const { format } = await import('prettier'); // as `npm run format` would leave it
  writeFileSync(MEASURED, await format(JSON.stringify(measured), { parser: 'json' }));
}
const { pairs } = measured;

// --- summary and tolerances ------------------------------------------------------------------------
const kinds: Kind[] = ['backend', 'engine', 'pytorch', 'seed', 'batch order', 'init'];
const stats = (xs: number[]) => ({
  n: xs.length,
  min: Math.min(...xs),
  median: median(xs),
  max: Math.max(...xs),
});
const summary = Object.fromEntries(
  kinds.map((k) => {
    const ps = pairs.filter((p) => p.kind === k);
    return [k, { bpb: stats(ps.map((p) => p.dBpb)), curve: stats(ps.map((p) => p.dCurve)) }];
  }),
) as Record<Kind, { bpb: ReturnType<typeof stats>; curve: ReturnType<typeof stats> }>;
for (const p of pairs)
  log(
    `${p.preset.padEnd(5)} ${p.kind.padEnd(11)} |Δ val_bpb| ${p.dBpb.toExponential(2)}  max |Δ curve| ${p.dCurve.toExponential(2)}  ${p.what}`,
  );

/** Rounded down to two significant digits, so the constant reads as what it is: an estimate. */
const round2 = (x: number) => {
  const e = 10 ** (Math.floor(Math.log10(x)) - 1);
  return Number((Math.floor(x / e) * e).toPrecision(2));
};
// Honest replicas (same experiment, another implementation) must agree: a false rejection costs a
// volunteer credit and reputation, and GPUs this machine cannot test round differently again. So
// each tolerance sits `safety`× below the smallest gap between different experiments, as far from
// the honest gaps as the measurements allow; with less room than safety² it takes the geometric mean.
const safety = Number(opt.safety);
const honest = pairs.filter((p) => ['backend', 'engine', 'pytorch'].includes(p.kind)); // same experiment
const others = pairs.filter((p) => !honest.includes(p));
function tolerance(metric: 'dBpb' | 'dCurve'): {
  tau: number;
  honestMax: number;
  othersMin: number;
} {
  const honestMax = Math.max(...honest.map((p) => p[metric]));
  const othersMin = Math.min(...others.map((p) => p[metric]));
  const room = othersMin / honestMax;
  if (!(room > 1))
    throw new Error(
      `${metric}: different experiments (${othersMin}) come as close as honest replicas (${honestMax})`,
    );
  const tau = room >= safety * safety ? othersMin / safety : Math.sqrt(othersMin * honestMax);
  if (room < safety * safety)
    log(
      `warning: ${metric} has little room (${room.toFixed(1)}×); tolerance at the geometric mean`,
    );
  return { tau: round2(tau), honestMax, othersMin };
}
const bpbTol = tolerance('dBpb');
const curveTol = tolerance('dCurve');
const tauBpb = bpbTol.tau;
const tauCurve = curveTol.tau;
const caught = (p: Pair) => p.dBpb > tauBpb || p.dCurve > tauCurve;
const result = {
  ...measured,
  pairs: undefined,
  summary,
  tauBpb,
  tauCurve,
  margins: {
    bpb: { overHonest: tauBpb / bpbTol.honestMax, underOthers: bpbTol.othersMin / tauBpb },
    curve: {
      overHonest: tauCurve / curveTol.honestMax,
      underOthers: curveTol.othersMin / tauCurve,
    },
  },
  honestAgree: honest.every((p) => !caught(p)),
  rejected: `${others.filter(caught).length}/${others.length}`,
  missed: others.filter((p) => !caught(p)).map((p) => `${p.preset} ${p.kind}: ${p.what}`),
};
const { margins } = result;
log(
  `TAU_BPB ${tauBpb} (${margins.bpb.overHonest.toFixed(0)}× the largest honest gap, 1/${margins.bpb.underOthers.toFixed(1)} of the smallest other), ` +
    `TAU_CURVE ${tauCurve} (${margins.curve.overHonest.toFixed(0)}×, 1/${margins.curve.underOthers.toFixed(1)}); they reject ${result.rejected} pairs of different experiments`,
);

const num = (x: number) => (x === 0 ? '0' : x < 1e-3 ? x.toExponential(1) : x.toPrecision(2));
/** One line of the comment: |Δ val_bpb| and max |Δ curve|, their median and the end that matters. */
function row(label: string, k: Kind, end: 'max' | 'min'): string {
  const { bpb, curve } = summary[k];
  if (!bpb.n) return ` * ${label.padEnd(44)} not run`;
  const cell = (x: ReturnType<typeof stats>) =>
    `${num(x.median).padStart(7)} ${end} ${num(x[end]).padEnd(7)}`;
  return ` * ${label.padEnd(44)} ${cell(bpb)}   ${cell(curve)}  (${bpb.n})`;
}

/** Replaces the tolerance block of shared/verify.ts: the doc comment and the two constants. */
function writeTolerances(): void {
  const file = join(ROOT, 'shared', 'verify.ts');
  const src = readFileSync(file, 'utf8');
  const block = /\/\*\*\n \* Tolerances[\s\S]*?export const TAU_CURVE = [^;]+;/;
  if (!block.test(src)) throw new Error('shared/verify.ts: the tolerance block was not found');
  const date = new Date().toISOString().slice(0, 10);
  const where = measured.firefox ? 'Chromium and Firefox ESR' : 'headless Chromium';
  // Chromium and Firefox on one backend (Firefox's two WASM builds count as WASM): how many agree
  // to the bit. Exact agreement across engines is honest, unlike across backends.
  const sameBackend = pairs.filter((p) => {
    const m = /^chromium (\S+) vs firefox (\S+),/.exec(p.what);
    return p.kind === 'engine' && m && m[1] === m[2]!.replace(/-threads$/, '');
  });
  const exact = sameBackend.filter((p) => p.dBpb === 0 && p.dCurve === 0).length;
  const ran = measured.firefox
    ? `\n * Backends: Chromium ${measured.backends.replaceAll(',', '/')}; Firefox ${measured.firefox.replaceAll(',', '/')}` +
      ' (wasm: not cross-origin\n * isolated, the single-threaded build; wasm-threads: the threaded build, 2 threads; webgl:\n' +
      ` * llvmpipe on Xvfb, float32 render targets). Browsers: ${(measured.browsers ?? []).join(', ')}.` +
      `\n * Chromium and Firefox on the same backend agree to the bit in ${exact} of ${sameBackend.length} pairs.`
    : '';
  const text = `/**
 * Tolerances, calibrated ${date} by \`${measured.command}\` (${measured.minutes.toFixed(0)} min in ${where} on a
 * 2-core Linux machine; TF.js 4.22; presets ${measured.presets} on ${measured.dataset}; seeds ${measured.seeds.join(', ')}).${ran}
 * Pairs of runs:
 * (median, then the end that matters)          |Δ final val_bpb|           max |Δ curve|
 * the same experiment, two implementations — must agree:
${row(measured.firefox ? 'other backend, same engine' : `other backend (${measured.backends.replaceAll(',', '/')})`, 'backend', 'max')}
${measured.firefox ? `${row('other engine (Chromium vs Firefox)', 'engine', 'max')}\n` : ''}${row('PyTorch, same weights and batches', 'pytorch', 'max')}
 * different experiments — should not:
${row('another seed', 'seed', 'min')}
${row('same weights, another batch order', 'batch order', 'min')}
${row('same batches, other initial weights', 'init', 'min')}
 * Each tolerance is 1/${safety} of the smallest gap between different experiments (or the geometric mean of
 * the two ends when they are closer than ${safety * safety}×): TAU_BPB is ${margins.bpb.overHonest.toFixed(0)}× and TAU_CURVE ${margins.curve.overHonest.toFixed(0)}× the largest
 * honest gap, room for the GPUs this machine cannot test; together they reject ${result.rejected} of the pairs
 * of different experiments. Honest gaps grow slowly with training: nanogpt-cpu after 2,000 steps, WASM
 * vs PyTorch, 4e-7 (npm run bench:train -- --steps 2000). Re-run when presets change.
 * TAU_BPB: |Δ final val_bpb| in bits per byte. TAU_CURVE: max |Δ| of the segment-mean training loss.
 */
export const TAU_BPB = ${tauBpb};
export const TAU_CURVE = ${tauCurve};`;
  writeFileSync(file, src.replace(block, text));
  log(`wrote TAU_BPB = ${tauBpb} and TAU_CURVE = ${tauCurve} into shared/verify.ts`);
}
if (!opt['no-write']) writeTolerances();
if (opt.json) console.log(JSON.stringify({ ...result, pairs }));
