// Runs scripts/reference/nanogpt_cpu.py on a spec: the same model, recipe, initial weights and
// batches as the browser trainer, in PyTorch. Used by bench-train.ts (speed) and calibrate.ts (drift).
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ExperimentSpec } from '../../shared/spec.ts';
import { ROOT } from '../lib/wrangler.ts';

export interface PytorchRun {
  name: 'pytorch';
  version: string;
  threads: number;
  msPerStep: number; // median after the warm-up steps
  tokensPerSec: number;
  valBpb: number;
  valLoss: number;
  losses: number[];
  curve: number[];
}

/** A Python with torch (TABGRID_PYTHON, python3, or Debian's /usr/bin/python3), or null. */
export function findPython(): string | null {
  for (const py of [process.env.TABGRID_PYTHON, 'python3', '/usr/bin/python3'].filter(
    Boolean,
  ) as string[]) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

export const NO_TORCH =
  'PyTorch is not importable (apt-get install -y python3-torch libopenblas0-pthread)';

/** Trains `spec` on the dataset built in `dataDir`; progress goes to stderr. */
export async function runPytorch(
  py: string,
  spec: ExperimentSpec,
  dataDir: string,
  o: { warmup: number; threads: number },
): Promise<PytorchRun> {
  const script = join(ROOT, 'scripts', 'reference', 'nanogpt_cpu.py');
  const args = [
    script,
    '--data',
    dataDir,
    '--spec',
    JSON.stringify(spec),
    '--warmup',
    String(o.warmup),
    '--threads',
    String(o.threads),
  ];
  const child = spawn(py, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`the PyTorch reference failed (exit ${code})`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as PytorchRun;
}
