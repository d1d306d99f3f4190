// Writes the folder `npm run bench:gpu -- --carry DIR [--node]` carries to a GPU machine that has an
// NVIDIA driver and PyTorch but no Node, no internet and no browser: bench.mjs (carried.ts and
// everything it imports, bundled by esbuild), dawn.node, the Vulkan loader, the dataset, the
// PyTorch scripts and run.sh, which finds the NVIDIA Vulkan driver and starts the bench.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { Dataset } from './bench-core.ts';
import { CACHE_DIR, downloadDebs } from './drivers.ts';

const here = import.meta.dirname;

/** The Vulkan loader (libvulkan1, Debian 12) from setup's cache, or downloaded now. */
function vulkanLoader(log: (l: string) => void): string {
  const find = (dir: string) =>
    existsSync(dir)
      ? readdirSync(dir).find((f) => f.startsWith('libvulkan1_') && f.endsWith('.deb'))
      : undefined;
  const cached = join(CACHE_DIR, 'debs');
  let deb = find(cached);
  if (!deb) {
    log('downloading libvulkan1 with apt-get download');
    downloadDebs(['libvulkan1'], cached);
    deb = find(cached);
  }
  if (!deb) throw new Error('no libvulkan1 .deb could be had');
  return join(cached, deb);
}

function xz(file: string): void {
  const r = spawnSync('xz', ['-T2', '-6', '-f', file], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`xz ${file} failed`);
}

function sizeOf(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);
}

export async function writeCarry(
  out: string,
  o: { data: Dataset; withNode: boolean; log: (l: string) => void },
): Promise<void> {
  const dir = resolve(out);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await build({
    entryPoints: [join(here, 'carried.ts')],
    outfile: join(dir, 'bench.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // tfjs's Node bundles are CommonJS that call require(): give the ESM bundle one.
    banner: {
      js: "import { createRequire as __tabgridRequire } from 'node:module'; const require = __tabgridRequire(import.meta.url);",
    },
    external: ['node-fetch'],
    minify: true, // 5.4 → 2.7 MB; nothing in it rebuilds code from Function.toString (only WASM's threads do, not carried)
    logLevel: 'warning',
  });
  const dawn = join(
    dirname(createRequire(import.meta.url).resolve('webgpu')),
    'dist',
    'linux-x64',
    'dawn.node',
  );
  copyFileSync(dawn, join(dir, 'dawn.node'));
  // The loader itself, not the .deb: dpkg or ar may be missing on the GPU machine.
  const unpacked = join(dir, 'vulkan-deb');
  spawnSync('dpkg', ['-x', vulkanLoader(o.log), unpacked], { stdio: 'inherit' });
  mkdirSync(join(dir, 'vulkan'));
  copyFileSync(
    join(unpacked, 'usr', 'lib', 'x86_64-linux-gnu', 'libvulkan.so.1.3.239'),
    join(dir, 'vulkan', 'libvulkan.so.1'),
  );
  rmSync(unpacked, { recursive: true });
  cpSync(o.data.dir, join(dir, 'data'), { recursive: true });
  writeFileSync(
    join(dir, 'dataset.json'),
    JSON.stringify({ id: o.data.id, sha256: o.data.sha256, vocabSize: o.data.vocabSize }),
  );
  copyFileSync(join(here, 'pytorch-gpu.py'), join(dir, 'pytorch-gpu.py'));
  copyFileSync(join(here, '..', 'reference', 'nanogpt_cpu.py'), join(dir, 'nanogpt_cpu.py'));
  copyFileSync(join(here, 'carry-run.sh'), join(dir, 'run.sh'));
  chmodSync(join(dir, 'run.sh'), 0o755);
  if (o.withNode) {
    // Node (125 MB) and dawn.node (21.5 MB) xz-compressed, to stay under the 40 MB a carry may take.
    copyFileSync(process.execPath, join(dir, 'node'));
    o.log('compressing node and dawn.node with xz');
    xz(join(dir, 'node'));
    xz(join(dir, 'dawn.node'));
  }
  o.log(
    `carry folder ${dir}: ${(sizeOf(dir) / 2 ** 20).toFixed(1)} MB; run it with ${join(dir, 'run.sh')} --json`,
  );
}
