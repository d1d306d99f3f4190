// An edge of a spec's own (`scripts/start.ts` on its own port and state directory), for specs that
// restart it or run it with other settings than the suite's server (restart.spec.ts, shards.spec.ts).
import { spawn, type ChildProcess } from 'node:child_process';

/** Starts `scripts/start.ts --port port --persist persist …args` and waits until it is healthy. */
export async function startEdge(
  port: number,
  persist: string,
  args: string[] = [],
): Promise<ChildProcess> {
  const url = `http://localhost:${port}`;
  const child = spawn(
    process.execPath,
    ['scripts/start.ts', '--port', String(port), '--persist', persist, ...args],
    {
      detached: true, // its own process group, so the whole edge can be killed at once
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  for (let i = 0; i < 600 && child.exitCode === null; i++) {
    if (
      await fetch(`${url}/api/health`)
        .then((r) => r.ok)
        .catch(() => false)
    )
      return child;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the edge did not start (exit ${child.exitCode}):\n${output}`);
}

/** Kills the edge's whole process group (a crash, not a graceful shutdown) and waits for the port. */
export async function stopEdge(child: ChildProcess, port: number): Promise<void> {
  const url = `http://localhost:${port}`;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is already gone
    }
    await exited;
  }
  // Wait until nothing answers on the port any more (workerd children included).
  for (let i = 0; i < 100; i++) {
    if (
      !(await fetch(`${url}/api/health`)
        .then(() => true)
        .catch(() => false))
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`something still answers on port ${port} after the edge was killed`);
}
