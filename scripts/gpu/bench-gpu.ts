// `npm run bench:gpu -- [--json] [--presets demo,nanogpt-cpu] [--steps 5] [--driver auto|vulkan|lavapipe|opengles]`
// trains the first steps of each preset on TensorFlow.js's WebGPU backend over Dawn in Node (stock
// tfjs kernels), on WASM for the loss check, and in PyTorch eager on the same GPU where
// `torch.cuda.is_available()`; the last stdout line (--json) is bench-core.ts's report.
// `--carry DIR [--node]` writes instead a self-contained folder for a GPU machine (carry.ts).
// `--f16` adds the f16 calibration of the tiled matmul (f16-calibration.ts) as the report's `f16`.
// Run `npm run gpu:setup` first for lavapipe; without it the OpenGL ES backend is used (docs/gpu.md).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDataset, type DatasetId } from '../../datasets/build.ts';
import { runBench, torchDevice, type Dataset } from './bench-core.ts';
import { writeCarry } from './carry.ts';
import { runF16Calibration } from './f16-calibration.ts';
import { pickDriver, type DriverName } from './drivers.ts';
import { findPython } from '../reference/pytorch.ts';

const { values: opt } = parseArgs({
  options: {
    presets: { type: 'string' }, // default: demo,nanogpt-cpu on a software adapter, nanogpt-cpu,nanogpt-gpu on a GPU
    preset: { type: 'string', default: 'nanogpt-cpu' }, // the preset the ratios are of
    steps: { type: 'string' }, // default 5 on a software adapter (~1.5 s/step of nanogpt-cpu), 30 on a GPU
    warmup: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    dataset: { type: 'string' }, // default tinyshakespeare where its source is present, else sotu
    driver: { type: 'string', default: 'auto' },
    'no-wasm': { type: 'boolean', default: false },
    'no-kernels': { type: 'boolean', default: false }, // skip the fused kernels' check and timing
    'pytorch-device': { type: 'string' }, // force one (cpu: to test the column here); default cuda when available
    carry: { type: 'string' },
    node: { type: 'boolean', default: false }, // --carry: also carry this Node (the GPU machines have none)
    profile: { type: 'string', default: '1' }, // stock steps profiled after the timed ones (kernels per step, GPU time by kernel)
    f16: { type: 'boolean', default: false }, // calibrate the matmul's f16 variants (needs shader-f16)
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);

async function dataset(): Promise<Dataset> {
  const ids: DatasetId[] = opt.dataset ? [opt.dataset as DatasetId] : ['tinyshakespeare', 'sotu'];
  for (const id of ids) {
    try {
      const d = await ensureDataset(id, { log });
      return { id, sha256: d.manifestSha256, vocabSize: d.manifest.vocab.length, dir: d.dir };
    } catch (err) {
      if (opt.dataset) throw err;
      log(`dataset ${id}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error('no dataset could be built');
}

const data = await dataset();
if (opt.carry) {
  await writeCarry(opt.carry, { data, withNode: opt.node, log });
  process.exit(0);
}

const driver = pickDriver(opt.driver as DriverName | 'auto');
if (!driver) {
  log(
    `no ${opt.driver === 'auto' ? '' : `${opt.driver} `}driver for Dawn here: run \`npm run gpu:setup\` (docs/gpu.md)`,
  );
  process.exit(2);
}
const software = driver.name !== 'vulkan';
const python = findPython();
const torch = opt['pytorch-device']
  ? { device: opt['pytorch-device'] }
  : torchDevice(python ?? 'python3');
const report = await runBench({
  presets: (opt.presets ?? (software ? 'demo,nanogpt-cpu' : 'nanogpt-cpu,nanogpt-gpu')).split(','),
  preset: opt.preset,
  steps: Number(opt.steps ?? (software ? 5 : 30)),
  warmup: Number(opt.warmup),
  seed: Number(opt.seed),
  data,
  driver,
  child: [join(import.meta.dirname, 'steps.ts')],
  kernelCheck: opt['no-kernels'] ? null : [join(import.meta.dirname, 'kernel-check.ts')],
  pytorchScript: join(import.meta.dirname, 'pytorch-gpu.py'),
  python: python ?? 'python3',
  pytorchDevice: torch.device,
  pytorchNote: torch.note,
  wasm: !opt['no-wasm'],
  profile: Number(opt.profile),
  f16: opt.f16,
  log,
});
const f16 = opt.f16
  ? await runF16Calibration(
      {
        child: [join(import.meta.dirname, 'steps.ts')],
        data,
        steps: Number(opt.steps ?? (software ? 5 : 30)),
        warmup: Number(opt.warmup),
        seed: Number(opt.seed),
        driver,
        wasm: !opt['no-wasm'],
        log,
      },
      opt.preset,
    )
  : null;
log(
  `adapter: ${report.adapter} (${report.driver}); ratio vs PyTorch: ${report.ratioVsPytorch ?? 'n/a'}; load ${report.loadAverage.join(' ')}`,
);
if (opt.json) console.log(JSON.stringify(f16 ? { ...report, f16 } : report));
