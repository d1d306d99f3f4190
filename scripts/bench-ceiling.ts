// `node scripts/bench-ceiling.ts`: the ceiling of the local stack under bench:edge — how many
// requests per second `wrangler dev` serves on this machine when the Worker does (almost) nothing.
//
// Serves edge/bench/ceiling.ts: the app with two extra routes that exist only there:
//   GET  /__ceiling/noop    answers 'ok' (HTTP through wrangler dev's proxy into workerd)
//   POST /__ceiling/signed  the real signedVolunteer middleware (edge/src/auth.ts: Ed25519 check,
//                           both rate limiters, the replay guard's D1 batch), then 'ok'
// and drives each with closed-loop clients (one request in flight each, keep-alive), as bench:edge
// does. It also reads workerd's threads from /proc during each phase: which ones burn the CPU.
//
//   npm run bench:ceiling -- [--clients 20] [--seconds 8] [--port 8810] [--json]
// With --json the last line of stdout is one JSON object: {clients, seconds, noop, signed}, each
// phase {requestsPerSec, p50Ms, p99Ms, errors, workerdCpuMsPerRequest} — the CPU every workerd
// thread spent per request (from /proc, clock ticks of 10 ms), the floor a round trip's two signed
// requests cannot go below on this machine.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { log, positiveInt, runBench, seedAndStartEdge, stopEdge } from './lib/fleet-edge.ts';
import { Fleet, type Identity } from './lib/fleet.ts';
import { ROOT } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '8' },
    port: { type: 'string', default: '8810' },
    json: { type: 'boolean', default: false },
  },
});
const CLIENTS = positiveInt('clients', values.clients);
const SECONDS = positiveInt('seconds', values.seconds);
const PERSIST = join(ROOT, '.wrangler', 'bench-ceiling');
/** Keys per client: the volunteer limiter allows 200 requests per 10 s window per key. */
const KEYS = 10;

/** CPU ticks per thread of every workerd process under `root`. */
function workerdThreads(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let comm: string;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm !== 'workerd') continue;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(`${pid}/${tid}`, Number(f[11]) + Number(f[12]));
      } catch {
        // the thread ended
      }
    }
  }
  return out;
}

interface Phase {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  workerdCpuMsPerRequest: number;
}

/** Clock ticks per second in /proc/<pid>/task/<tid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SEC = 100;

async function phase(
  name: string,
  send: (client: number, turn: number) => Promise<number>,
): Promise<Phase> {
  const lat: number[] = [];
  let errors = 0;
  const before = workerdThreads();
  const t0 = performance.now();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let turn = 0; Date.now() < end; turn++) {
        const t = performance.now();
        if ((await send(client, turn)) !== 200) errors++;
        lat.push(performance.now() - t);
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  const after = workerdThreads();
  lat.sort((a, b) => a - b);
  const busy = [...after]
    .map(([k, v]) => [k, (v - (before.get(k) ?? v)) / s] as const)
    .filter(([, t]) => t > 0)
    .sort((a, b) => b[1] - a[1]);
  log(
    `  ${name}: ${(lat.length / s).toFixed(0)} requests/s, p50 ${lat[Math.floor(lat.length / 2)]!.toFixed(2)} ms, ` +
      `p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(2)} ms, errors ${errors}`,
  );
  log(
    `    workerd threads (of ${after.size}) with CPU: ${busy.map(([k, t]) => `${k} ${t.toFixed(0)} %`).join(', ')}`,
  );
  const cpuMs = (busy.reduce((a, [, t]) => a + t, 0) * s * 1000) / TICKS_PER_SEC;
  const round = (x: number) => Number(x.toFixed(2));
  return {
    requestsPerSec: round(lat.length / s),
    p50Ms: round(lat[Math.floor(lat.length / 2)]!),
    p99Ms: round(lat[Math.floor(lat.length * 0.99)]!),
    errors,
    workerdCpuMsPerRequest: round(cpuMs / lat.length),
  };
}

async function main(): Promise<void> {
  const { base } = await seedAndStartEdge(
    {
      persist: PERSIST,
      campaign: 'bench',
      name: 'Ceiling',
      brief: 'No work.',
      experiments: 1,
      replicas: 2,
    },
    {
      port: Number(values.port),
      entry: join(ROOT, 'edge', 'bench', 'ceiling.ts'),
      devTracing: false,
    },
  );
  const fleet = new Fleet(base, CLIENTS);
  const ids: Identity[][] = [];
  for (let c = 0; c < CLIENTS; c++)
    ids.push(await Promise.all(Array.from({ length: KEYS }, () => fleet.register())));
  log(`bench:ceiling: ${CLIENTS} closed-loop clients, ${SECONDS} s per phase, port ${base.port}`);
  const noop = await phase(
    'GET /__ceiling/noop  ',
    async () => (await fleet.get('/__ceiling/noop')).status,
  );
  const signed = await phase(
    'POST /__ceiling/signed',
    async (c, turn) =>
      (await fleet.postSigned(ids[c]![turn % KEYS]!, '/__ceiling/signed', {})).status,
  );
  fleet.agent.destroy();
  await stopEdge();
  if (values.json)
    process.stdout.write(
      JSON.stringify({ clients: CLIENTS, seconds: SECONDS, noop, signed }) + '\n',
    );
}

await runBench('bench:ceiling', main);
