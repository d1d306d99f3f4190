// Builds what the server needs, only when it is missing or stale: the default dataset, then the
// web app (dist/), which includes the dataset files copied from public/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDataset } from '../datasets/build.ts';
import { isStale } from './lib/stale.ts';
import { ROOT } from './lib/wrangler.ts';

const WEB_INPUTS = [
  'web',
  'shared',
  'public',
  'vite.config.ts',
  'svelte.config.js',
  'package-lock.json',
];

export function webIsStale(): boolean {
  return (
    !existsSync(join(ROOT, 'dist', 'data')) || isStale(join(ROOT, 'dist', 'index.html'), WEB_INPUTS)
  );
}

export async function buildAll(): Promise<void> {
  await ensureDataset('sotu');
  if (!webIsStale()) {
    console.log('web app up to date');
    return;
  }
  const t0 = performance.now();
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error('the web build failed');
  console.log(`web app built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (import.meta.main) await buildAll();
