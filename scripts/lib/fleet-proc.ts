// CPU time and resident memory of the local edge's process tree (Linux /proc; empty elsewhere), so
// the edge benchmarks can say where the machine's cores go and whether the edge's memory grows.
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SEC = 100; // USER_HZ on Linux

export interface EdgeProcess {
  role: string; // e.g. 'workerd (runtime: Worker, D1, rate limiters)'
  cpuMs: number; // user + system since the process started
  rssKb: number; // VmRSS: resident now, shared pages counted in every process that maps them
}

/** `rootPid` (the `wrangler dev` child) and all its descendants, by pid. */
export function edgeProcesses(rootPid: number | undefined): Map<number, EdgeProcess> {
  const out = new Map<number, EdgeProcess>();
  if (rootPid === undefined) return out;
  const all = new Map<number, { ppid: number; name: string; ms: number; args: string }>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' '); // fields[0] is state (field 3)
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      all.set(Number(pid), {
        ppid: Number(fields[1]),
        name: stat.slice(stat.indexOf('(') + 1, close),
        ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SEC,
        args,
      });
    } catch {
      // gone
    }
  }
  const keep = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of all) {
      if (!keep.has(pid) && keep.has(p.ppid)) {
        keep.add(pid);
        grew = true;
      }
    }
  }
  for (const pid of keep) {
    const p = all.get(pid);
    if (!p) continue;
    const role =
      p.name === 'workerd'
        ? /entry=127\.0\.0\.1:0\b/.test(p.args)
          ? 'workerd (runtime: Worker, D1, rate limiters)'
          : 'workerd (dev proxy)'
        : p.name === 'esbuild'
          ? 'esbuild'
          : `${p.name} (wrangler)`;
    out.set(pid, { role, cpuMs: p.ms, rssKb: rssKb(pid) });
  }
  return out;
}

function rssKb(pid: number): number {
  try {
    return Number(
      /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0,
    );
  } catch {
    return 0;
  }
}

/** CPU time per process of the edge's tree, by pid: `cpuDelta` of two of these is a run's share. */
export function processCpu(rootPid: number | undefined): Map<number, { name: string; ms: number }> {
  return new Map(
    [...edgeProcesses(rootPid)].map(([pid, p]) => [pid, { name: p.role, ms: p.cpuMs }]),
  );
}

/** Busy and total CPU time of the whole machine, in ms (all cores). */
export function machineCpu(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return {
      busy: ((total - idle) * 1000) / CLOCK_TICKS_PER_SEC,
      total: (total * 1000) / CLOCK_TICKS_PER_SEC,
    };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** CPU ms spent between two `processCpu` readings, summed by process role. */
export function cpuDelta(
  before: Map<number, { name: string; ms: number }>,
  after: Map<number, { name: string; ms: number }>,
) {
  const byName = new Map<string, number>();
  for (const [pid, a] of after)
    byName.set(a.name, (byName.get(a.name) ?? 0) + a.ms - (before.get(pid)?.ms ?? 0));
  return byName;
}

export interface MemorySample {
  atSec: number; // since the start of the run
  workerdMb: number; // RSS summed over the tree's workerd processes (the edge proper)
  runtimeMb: number; // of which the runtime's (the Worker, D1, rate limiters); the rest is the dev proxy
  treeMb: number; // RSS summed over the whole tree, wrangler's node process included
}

export function sampleMemory(rootPid: number | undefined, atSec: number): MemorySample {
  let workerd = 0;
  let runtime = 0;
  let tree = 0;
  for (const p of edgeProcesses(rootPid).values()) {
    tree += p.rssKb;
    if (p.role.startsWith('workerd')) workerd += p.rssKb;
    if (p.role.startsWith('workerd (runtime')) runtime += p.rssKb;
  }
  return { atSec, workerdMb: workerd / 1024, runtimeMb: runtime / 1024, treeMb: tree / 1024 };
}

/** Least-squares slope of y over x (0 when fewer than two points). */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx ? points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx : 0;
}
