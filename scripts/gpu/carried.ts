// The entry of the carried bundle (carry.ts builds it into bench.mjs): bench:gpu on a machine with no
// repository, no npm and no browser. run.sh sets the driver's environment and TABGRID_DAWN_NODE;
// the bundle runs itself with `--child` for each training process.
//
//   ./run.sh [--presets nanogpt-cpu,nanogpt-gpu] [--steps 30] [--preset nanogpt-cpu] [--f16] [--json]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBench, torchDevice, type Dataset } from './bench-core.ts';
import { runF16Calibration } from './f16-calibration.ts';
import { kernelCheckMain } from './kernel-check.ts';
import { stepsMain } from './steps.ts';

const bundle = fileURLToPath(import.meta.url);
const here = dirname(bundle);

if (process.argv[2] === '--child') await stepsMain(process.argv.slice(3));
if (process.argv[2] === '--kernel-check') await kernelCheckMain(process.argv.slice(3));

const { values: opt } = parseArgs({
  options: {
    presets: { type: 'string', default: 'nanogpt-cpu,nanogpt-gpu' },
    preset: { type: 'string', default: 'nanogpt-cpu' },
    steps: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    'pytorch-device': { type: 'string' },
    profile: { type: 'string', default: '1' }, // stock steps profiled after the timed ones (kernels per step, GPU time by kernel)
    f16: { type: 'boolean', default: false }, // f16-calibration.ts: may the matmul's f16 be turned on
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const meta = JSON.parse(readFileSync(join(here, 'dataset.json'), 'utf8')) as Omit<Dataset, 'dir'>;
const python = process.env.PYTHON ?? 'python3';
const torch = opt['pytorch-device'] ? { device: opt['pytorch-device'] } : torchDevice(python);
const common = {
  steps: Number(opt.steps),
  warmup: Number(opt.warmup),
  seed: Number(opt.seed),
  data: { ...meta, dir: join(here, 'data') },
  driver: null,
  child: [bundle, '--child'],
  wasm: false, // no .wasm files are carried; PyTorch's losses are the check there
  log,
};
const report = await runBench({
  ...common,
  presets: opt.presets.split(','),
  preset: opt.preset,
  kernelCheck: [bundle, '--kernel-check'],
  pytorchScript: join(here, 'pytorch-gpu.py'),
  python,
  pytorchDevice: torch.device,
  pytorchNote: torch.note,
  profile: Number(opt.profile),
  f16: opt.f16,
});
const f16 = opt.f16 ? await runF16Calibration(common, opt.preset) : null;
log(
  `adapter: ${report.adapter}; ratio vs PyTorch: ${report.ratioVsPytorch ?? 'n/a'}; load ${report.loadAverage.join(' ')}`,
);
if (opt.json) console.log(JSON.stringify(f16 ? { ...report, f16 } : report));
process.exit(0);
