// Finds (and, on request, installs) a driver Dawn can run on without a browser, and says how to start
// a process on it: a real GPU's Vulkan driver, Mesa 25's lavapipe unpacked from bookworm-backports,
// or Dawn's OpenGL ES backend over the system's Mesa. Facts and figures: docs/gpu.md.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdapterSummary } from './dawn.ts';

export type DriverName = 'vulkan' | 'lavapipe' | 'opengles';

export interface Driver {
  name: DriverName;
  /** Environment for the child process that loads Dawn (LD_LIBRARY_PATH is read only at start). */
  env: Record<string, string>;
  flags: string[]; // Dawn's create() flags
  featureLevel: 'core' | 'compatibility';
  note: string;
}

/** Where setup unpacks lavapipe: inside node_modules, so a fresh `npm ci` starts clean. */
export const CACHE_DIR = join(
  fileURLToPath(new URL('../..', import.meta.url)),
  'node_modules',
  '.cache',
  'tabgrid-gpu',
);
const LAVAPIPE_ROOT = join(CACHE_DIR, 'lavapipe');
const LIB_DIR = join(LAVAPIPE_ROOT, 'usr', 'lib', 'x86_64-linux-gnu');
const LAVAPIPE_ICD = join(LAVAPIPE_ROOT, 'lvp_icd.json');
const DEB_DIR = join(CACHE_DIR, 'debs');

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];
const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
const hasLib = (name: string) => LIB_DIRS.some((d) => existsSync(join(d, name)));

/** Vulkan ICD manifests on this machine whose driver is not a CPU one (lavapipe, SwiftShader). */
export function hardwareIcds(): string[] {
  return ICD_DIRS.flatMap((d) =>
    existsSync(d) ? readdirSync(d).map((f) => join(d, f)) : [],
  ).filter((f) => f.endsWith('.json') && !/lvp|swiftshader/i.test(readFileSync(f, 'utf8') + f));
}

/** The drivers that can be tried here, best first; none installed by this call. */
export function availableDrivers(): Driver[] {
  const out: Driver[] = [];
  const icds = hardwareIcds();
  const loader = hasLib('libvulkan.so.1')
    ? null
    : existsSync(join(LIB_DIR, 'libvulkan.so.1'))
      ? LIB_DIR
      : undefined;
  if (icds.length && loader !== undefined) {
    const env: Record<string, string> = { VK_DRIVER_FILES: icds.join(':') };
    if (loader)
      env.LD_LIBRARY_PATH = [loader, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    out.push({
      name: 'vulkan',
      env,
      flags: ['backend=vulkan'],
      featureLevel: 'core',
      note: `Vulkan: ${icds.join(', ')}`,
    });
  }
  if (existsSync(LAVAPIPE_ICD)) {
    out.push({
      name: 'lavapipe',
      env: {
        LD_LIBRARY_PATH: [LIB_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
        VK_DRIVER_FILES: LAVAPIPE_ICD,
      },
      flags: ['backend=vulkan'],
      featureLevel: 'core',
      note: `Mesa lavapipe unpacked in ${LAVAPIPE_ROOT}`,
    });
  }
  if (hasLib('libEGL_mesa.so.0') && hasLib('libGLESv2.so.2')) {
    // Dawn's GL ES backend offers only compatibility-mode adapters; surfaceless EGL needs no display.
    out.push({
      name: 'opengles',
      env: { EGL_PLATFORM: 'surfaceless' },
      flags: ['backend=opengles'],
      featureLevel: 'compatibility',
      note: "Dawn's OpenGL ES backend over the system's Mesa (llvmpipe)",
    });
  }
  return out;
}

function run(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' / ')}`,
    );
}

/** The Debian archive this machine's apt already uses for bookworm (deb822 or one-line sources). */
export function debianArchive(): string {
  const files = [
    '/etc/apt/sources.list',
    ...(existsSync('/etc/apt/sources.list.d')
      ? readdirSync('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f))
      : []),
  ];
  for (const file of files.filter((f) => existsSync(f) && /\.(list|sources)$/.test(f))) {
    const text = readFileSync(file, 'utf8');
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (
        uri &&
        /^Suites:.*\bbookworm\b(?!-)/m.test(stanza) &&
        /^Components:.*\bmain\b/m.test(stanza)
      )
        return uri;
    }
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s+.*\bmain\b/m.exec(text);
    if (line) return line[1]!;
  }
  throw new Error('apt has no Debian bookworm source configured here');
}

/**
 * Debian 12's own lavapipe (Mesa 22.3) is refused by Dawn ("shaderUniform*ArrayDynamicIndexing
 * required"); bookworm-backports has Mesa 25, which Dawn accepts. apt reads a private source list
 * (the machine's own Debian archive, plus its backports suite) and state here, so the machine's apt
 * configuration and packages stay as they are.
 */
export function downloadDebs(packages: string[], dir = DEB_DIR): string[] {
  const apt = join(CACHE_DIR, 'apt');
  mkdirSync(join(apt, 'sources'), { recursive: true });
  mkdirSync(join(apt, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(apt, 'cache', 'archives', 'partial'), { recursive: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(apt, 'sources', 'debian.sources'),
    `Types: deb\nURIs: ${debianArchive()}\nSuites: bookworm bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  );
  const o = [
    '-o',
    'Dir::Etc::SourceList=/dev/null',
    '-o',
    `Dir::Etc::SourceParts=${join(apt, 'sources')}`,
    '-o',
    `Dir::State::Lists=${join(apt, 'lists')}`,
    '-o',
    `Dir::Cache=${join(apt, 'cache')}`,
    '-o',
    'APT::Sandbox::User=root',
  ];
  run('apt-get', [...o, 'update']);
  run('apt-get', [...o, 'download', ...packages], dir);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.deb'))
    .map((f) => join(dir, f));
}

/** Unpacks lavapipe and the Vulkan loader (~12 MB of .debs) and writes an ICD with an absolute path. */
export function installLavapipe(log: (line: string) => void): Driver {
  rmSync(LAVAPIPE_ROOT, { recursive: true, force: true });
  rmSync(DEB_DIR, { recursive: true, force: true });
  log('downloading mesa-vulkan-drivers (bookworm-backports) and libvulkan1 with apt-get download');
  const debs = downloadDebs(['mesa-vulkan-drivers/bookworm-backports', 'libvulkan1']);
  for (const deb of debs) run('dpkg', ['-x', deb, LAVAPIPE_ROOT]);
  const lib = join(LIB_DIR, 'libvulkan_lvp.so');
  if (!existsSync(lib)) throw new Error(`the unpacked packages hold no ${lib}`);
  const shipped = JSON.parse(
    readFileSync(join(LAVAPIPE_ROOT, 'usr', 'share', 'vulkan', 'icd.d', 'lvp_icd.json'), 'utf8'),
  ) as { ICD: { api_version: string } };
  writeFileSync(
    LAVAPIPE_ICD,
    JSON.stringify({
      file_format_version: '1.0.0',
      ICD: { library_path: lib, api_version: shipped.ICD.api_version },
    }),
  );
  return availableDrivers().find((d) => d.name === 'lavapipe')!;
}

/** The driver named, or the best available ('auto'); null when none is. */
export function pickDriver(name: DriverName | 'auto'): Driver | null {
  const all = availableDrivers();
  return (name === 'auto' ? all[0] : all.find((d) => d.name === name)) ?? null;
}

/**
 * Runs `script` (a .ts file run by this Node) in a child process on `driver` and returns the JSON of
 * its last stdout line; its stderr goes to `log`, line by line.
 */
export async function runOnDriver<T>(
  driver: Driver | null,
  script: string,
  args: string[],
  o: { log: (line: string) => void; timeoutMs?: number },
): Promise<T> {
  const env = { ...process.env, ...(driver?.env ?? {}) };
  if (driver)
    Object.assign(env, {
      TABGRID_DAWN_FLAGS: driver.flags.join(','),
      TABGRID_DAWN_FEATURE_LEVEL: driver.featureLevel,
    });
  const child = spawn(process.execPath, [script, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let partial = '';
  const tail: string[] = [];
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines.filter((l) => l.trim())) {
      o.log(line);
      tail.push(line);
      if (tail.length > 5) tail.shift();
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 600_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  const last = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{'))
    throw new Error(
      `${script} on ${driver?.name ?? 'no driver'} exited ${code ?? 'killed'}: ${[...tail, partial].join(' / ').slice(-600)}`,
    );
  return JSON.parse(last) as T;
}

export type Probe = { driver: Driver; adapter: AdapterSummary } | { driver: Driver; error: string };

/**
 * Starts Dawn on every available driver (adapter-info.ts in a child process) and returns, for each,
 * the adapter it gives or why it does not start.
 */
export async function probeDrivers(): Promise<Probe[]> {
  const out: Probe[] = [];
  for (const driver of availableDrivers()) {
    try {
      const adapter = await runOnDriver<AdapterSummary>(
        driver,
        join(import.meta.dirname, 'adapter-info.ts'),
        [],
        { log: () => {}, timeoutMs: 60_000 },
      );
      out.push({ driver, adapter });
    } catch (err) {
      out.push({ driver, error: (err as Error).message });
    }
  }
  return out;
}
