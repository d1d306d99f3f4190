// The benchmark page: runs each request in a fresh training worker and logs progress. Node scripts
// (scripts/bench-train.ts, scripts/calibrate.ts) drive it through `window.tabgridBench`.
import * as Comlink from 'comlink';
import type { BenchApi, BenchRequest, BenchResult } from './types.ts';

const out = document.getElementById('log')!;
const log = (line: string) => {
  out.textContent += `${line}\n`;
  console.log(line); // Playwright forwards the page's console to the script
};

async function run(req: BenchRequest): Promise<BenchResult> {
  // One worker per run: each backend starts from a clean TensorFlow.js engine.
  const worker = new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module' });
  try {
    return await Comlink.wrap<BenchApi>(worker).run(req, Comlink.proxy(log));
  } finally {
    worker.terminate();
  }
}

window.tabgridBench = { run, crossOriginIsolated: self.crossOriginIsolated };
log(
  `ready; cross-origin isolated: ${self.crossOriginIsolated}, ${navigator.hardwareConcurrency} cores`,
);
