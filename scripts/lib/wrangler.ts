// Running wrangler from the project's own node_modules, offline and without telemetry.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WRANGLER = fileURLToPath(
  new URL('../../node_modules/wrangler/bin/wrangler.js', import.meta.url),
);

export const QUIET_ENV = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_LOG: process.env.WRANGLER_LOG ?? 'warn',
};

export function wrangler(args: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env: QUIET_ENV,
    stdio: 'inherit',
    ...opts,
  });
}

export function wranglerRun(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = wrangler(args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`wrangler ${args.join(' ')} failed (${code}):\n${out}`)),
    );
  });
}

/**
 * Runs one statement with `wrangler d1 execute --json` against `target` (`--local --persist-to DIR`
 * or `--remote`) and returns its rows.
 */
export function d1Json<T = Record<string, unknown>>(target: string[], sql: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const child = wrangler(['d1', 'execute', 'DB', ...target, '--json', '--command', sql], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...QUIET_ENV, WRANGLER_LOG: 'log' }, // below 'log' wrangler drops the --json output too
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0)
        return reject(new Error(`wrangler d1 execute failed (${code}):\n${err}${out}`));
      try {
        const parsed = JSON.parse(out) as { results: T[] }[];
        resolve(parsed.flatMap((r) => r.results));
      } catch (e) {
        reject(
          new Error(
            `unexpected output of wrangler d1 execute --json: ${(e as Error).message}\n${out.slice(0, 2000)}`,
          ),
        );
      }
    });
  });
}
