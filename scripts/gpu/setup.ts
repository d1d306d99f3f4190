// `npm run gpu:setup [-- --force] [--json]`: installs what the headless WebGPU harness needs beyond
// `npm install` (Mesa 25's lavapipe and the Vulkan loader, unpacked from Debian packages into
// node_modules/.cache/tabgrid-gpu, ~12 MB downloaded), then starts Dawn on every driver found and
// prints the adapter each gives. Nothing is installed system-wide. Without it, the harness still runs
// on Dawn's OpenGL ES backend over the system's Mesa (docs/gpu.md).
import { parseArgs } from 'node:util';
import { availableDrivers, installLavapipe, probeDrivers } from './drivers.ts';
import type { AdapterSummary } from './dawn.ts';

const { values: opt } = parseArgs({
  options: {
    force: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'no-install': { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);

if (!opt['no-install'] && (opt.force || !availableDrivers().some((d) => d.name === 'lavapipe'))) {
  try {
    installLavapipe(log);
  } catch (err) {
    log(`lavapipe: not installed (${(err as Error).message}); the OpenGL ES backend remains`);
  }
}

const found: Record<string, AdapterSummary | { error: string }> = {};
for (const probe of await probeDrivers()) {
  const { driver } = probe;
  if ('error' in probe) {
    found[driver.name] = { error: probe.error };
    log(`${driver.name.padEnd(9)} does not start: ${probe.error}`);
    continue;
  }
  const a = probe.adapter;
  found[driver.name] = a;
  log(
    `${driver.name.padEnd(9)} ${a.featureLevel.padEnd(13)} vendor "${a.vendor}" architecture "${a.architecture}" ${a.description} (${driver.note})`,
  );
}
if (!Object.keys(found).length)
  log('no driver Dawn could use: no Vulkan ICD, no unpacked lavapipe, no Mesa EGL/GLES libraries');
if (opt.json) console.log(JSON.stringify({ drivers: found }));
process.exitCode = Object.values(found).some((a) => !('error' in a)) ? 0 : 1;
