// Running wrangler from the project's own node_modules, offline and without telemetry.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const WRANGLER = fileURLToPath(
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

/** One D1 shard as a `wrangler d1` command names it: its binding in a config file (lib/d1-shards.ts). */
export interface D1Shard {
  binding: string;
  config: string;
}

/** Local state in `persist` (D1, R2), as a `wrangler` command's target; `config` when not wrangler.toml. */
export const localState = (persist: string, config?: string) => [
  '--local',
  '--persist-to',
  persist,
  ...(config ? ['--config', config] : []),
];

/** The local D1 of `shard` (default: DB in wrangler.toml) in `persist`, as a `wrangler d1` target. */
export const localD1 = (persist: string, shard?: D1Shard) => [
  shard?.binding ?? 'DB',
  ...localState(persist, shard?.config),
];

/** The deployed D1 of `binding` in wrangler.toml, as the target of a `wrangler d1` command. */
export const remoteD1 = (binding = 'DB') => [binding, '--remote'];

/** The arguments of `wrangler d1 execute` on `target` (localD1 or remoteD1), then `args`. */
export const d1Execute = (target: string[], ...args: string[]) => [
  'd1',
  'execute',
  ...target,
  ...args,
];

/** wrangler's environment for `d1 execute --json`: below 'log' wrangler drops the --json output too. */
export const D1_JSON_ENV = { ...QUIET_ENV, WRANGLER_LOG: 'log' };

/** The rows in what `wrangler d1 execute --json` printed. */
export function d1Rows<T>(out: string): T[] {
  return (JSON.parse(out) as { results: T[] }[]).flatMap((r) => r.results);
}

/**
 * Runs one statement with `wrangler d1 execute --json` against `target` (localD1 or remoteD1) and
 * returns its rows.
 */
export function d1Json<T = Record<string, unknown>>(target: string[], sql: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const child = wrangler(d1Execute(target, '--json', '--command', sql), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: D1_JSON_ENV,
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0)
        return reject(new Error(`wrangler d1 execute failed (${code}):\n${err}${out}`));
      try {
        resolve(d1Rows<T>(out));
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
