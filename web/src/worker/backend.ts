// Picks the TensorFlow.js backend: by a measured probe among WASM (threaded under cross-origin
// isolation) and the hardware GPU backends (WebGPU, WebGL) that compute WASM's losses, or the one
// named; the plain CPU backend last.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { requestDeviceWithFeatures } from '../../../shared/kernels/features.ts';
import { registerFusedKernels } from '../../../shared/kernels/register.ts';
import {
  adapterInfoOf,
  adapterKind,
  agreesWith,
  isSoftwareRenderer,
  mayWin,
  precisionOf,
  probeBackend,
  type AdapterInfoLike,
} from './probe.ts';
import type { BackendInfo, BackendPreference } from './types.ts';

async function webgpuAdapter(): Promise<AdapterInfoLike | null> {
  const gpu = (
    navigator as Navigator & {
      gpu?: {
        requestAdapter(): Promise<{ info?: AdapterInfoLike; isFallbackAdapter?: boolean } | null>;
      };
    }
  ).gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return null;
  return adapterInfoOf(adapter);
}

/** The backend must compute a known matmul correctly (async read only: docs/backends.md). */
async function sane(): Promise<boolean> {
  const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const out = tf.matMul(a, a);
  const v = await out.data();
  tf.dispose([a, out]);
  return [7, 10, 15, 22].every((x, i) => Math.abs(v[i]! - x) < 1e-4);
}

async function use(name: string): Promise<boolean> {
  // setBackend's boolean is the truth; getBackend() may still name a backend that failed (docs/backends.md).
  if (!(await tf.setBackend(name).catch(() => false))) return false;
  await tf.ready();
  return tf.getBackend() === name && (await sane());
}

/**
 * tfjs-backend-wasm 4.22 caps XNNPACK's pool at navigator.hardwareConcurrency / 2, whatever
 * setThreadsCount asks (its backend.cc: min(asked, 8, emscripten_num_logical_cores() / 2), the
 * core count read once while the module starts). Reporting 2 × `threads` cores only while the
 * backend initialises lifts that cap; the pool's workers are pre-created (8) either way.
 */
async function withReportedCores<T>(cores: number, f: () => Promise<T>): Promise<T> {
  const own = Object.getOwnPropertyDescriptor(navigator, 'hardwareConcurrency');
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: cores, configurable: true });
  try {
    return await f();
  } finally {
    if (own) Object.defineProperty(navigator, 'hardwareConcurrency', own);
    else Reflect.deleteProperty(navigator, 'hardwareConcurrency'); // back to the prototype's getter
  }
}

/**
 * WASM threads by default: half the cores, up to 4 — the volunteer's machine stays usable. On this
 * 2-core machine (bench:train, nanogpt-cpu, November 2026) 2 threads took 0.71–0.76× the step time
 * of 1 while the other core was idle but 1.3–1.4× while other processes kept both busy, so a
 * second thread pays only on an otherwise idle machine; `--threads` measures both.
 */
export const defaultWasmThreads = () =>
  Math.min(4, Math.max(1, Math.floor((navigator.hardwareConcurrency || 2) / 2)));

async function useWasm(threads: number | undefined): Promise<BackendInfo | null> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  const n = self.crossOriginIsolated ? (threads ?? defaultWasmThreads()) : 1; // threads need cross-origin isolation
  setThreadsCount(n);
  if (!(await withReportedCores(2 * n, () => use('wasm')))) return null;
  return { backend: 'wasm', threads: getThreadsCount() }; // what XNNPACK got
}

let featuresRequested = false;

/**
 * tfjs-backend-webgpu creates its device itself, asking for `timestamp-query` alone: the adapter's
 * requestDevice (once, before the backend starts) also asks for the optional features the fused
 * kernels use where the adapter has them (shared/kernels/features.ts).
 */
function requestKernelFeatures(): void {
  const proto = (globalThis as { GPUAdapter?: { prototype: GPUAdapter } }).GPUAdapter?.prototype;
  if (!proto || featuresRequested) return;
  featuresRequested = true;
  const requestDevice = proto.requestDevice;
  proto.requestDevice = function (this: GPUAdapter, d: GPUDeviceDescriptor = {}) {
    return requestDeviceWithFeatures(this, (x) => requestDevice.call(this, x), d);
  };
}

async function useWebgpu(adapter: AdapterInfoLike): Promise<BackendInfo | null> {
  requestKernelFeatures();
  if (!(await use('webgpu'))) return null;
  // The fused LayerNorm, attention and AdamW (shared/kernels/): the model and the loop use them only
  // on WebGPU once registered (docs/gpu.md has the kernel counts and step times).
  registerFusedKernels();
  const label = [adapter.vendor, adapter.architecture, adapter.description]
    .filter(Boolean)
    .join(' ');
  return { backend: 'webgpu', adapter: (label || 'unknown adapter').slice(0, 200) }; // the protocol's bound
}

/** The WebGL renderer's name (a worker's OffscreenCanvas), or null without WebGL 2. */
function webglRenderer(): string | null {
  const gl =
    typeof OffscreenCanvas === 'undefined' ? null : new OffscreenCanvas(1, 1).getContext('webgl2');
  if (!gl) return null;
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

async function useWebgl(): Promise<BackendInfo | null> {
  const renderer = webglRenderer();
  if (!renderer || !(await use('webgl'))) return null;
  return { backend: 'webgl', adapter: renderer, precision: precisionOf('webgl') };
}

/**
 * The backend to train on. A named one is used if it works (`?backend=`, benchmarks, tests). `auto`
 * takes WASM unless a hardware GPU is there: then a short probe (probe.ts) trains three steps on
 * WASM and on each hardware GPU backend (WebGPU; WebGL with float32 render targets) and keeps the
 * fastest whose losses match WASM's. Software GPUs (SwiftShader, llvmpipe/lavapipe, WARP: probe.ts's
 * adapterKind) are never probed: they train 5–70× slower than WASM (docs/gpu.md); an adapter that
 * names neither vendor nor architecture must beat WASM by a margin. `threads` overrides the WASM
 * thread count.
 */
export async function pickBackend(
  preference: BackendPreference,
  options: { threads?: number; probeSoftware?: boolean } = {},
): Promise<BackendInfo> {
  let picked: BackendInfo | null = null;
  if (preference === 'webgpu') {
    const adapter = await webgpuAdapter();
    picked = adapter && (await useWebgpu(adapter));
  } else if (preference === 'webgl') {
    picked = await useWebgl();
  } else if (preference === 'wasm') {
    picked = await useWasm(options.threads);
  } else if (preference === 'auto') {
    picked = await probeAndPick(options.threads, options.probeSoftware ?? false);
  }
  if (picked) return picked;
  if (preference !== 'cpu' && preference !== 'auto')
    throw new Error(`The ${preference} backend does not work in this browser.`);
  if (await use('cpu')) return { backend: 'cpu' };
  throw new Error('No TensorFlow.js backend works in this browser.');
}

/** `probeSoftware`: probe software GPUs too (tests: this machine has no other). */
async function probeAndPick(
  threads: number | undefined,
  probeSoftware: boolean,
): Promise<BackendInfo | null> {
  const wasm = await useWasm(threads);
  const adapter = await webgpuAdapter();
  const renderer = webglRenderer();
  // Software GPUs (probe.ts's adapterKind) are probed only when asked; an unidentified adapter must
  // beat WASM by a margin (probe.ts's mayWin), so a CPU rasteriser that hides its name cannot win.
  const gpus: { kind: ReturnType<typeof adapterKind>; start: () => Promise<BackendInfo | null> }[] =
    [];
  const gpuKind = adapter && adapterKind(adapter);
  if (adapter && gpuKind && (probeSoftware || gpuKind !== 'software'))
    gpus.push({ kind: gpuKind, start: () => useWebgpu(adapter) });
  const glKind = renderer && isSoftwareRenderer(renderer) ? 'software' : 'hardware';
  if (renderer && (probeSoftware || glKind !== 'software'))
    gpus.push({ kind: glKind, start: useWebgl });
  if (!wasm || !gpus.length) return wasm;
  const reference = await probeBackend();
  let best = { info: wasm, ms: reference.msPerStep };
  const probe: BackendInfo['probe'] = { wasm: reference.msPerStep };
  for (const candidate of gpus) {
    const info = await candidate.start().catch(() => null);
    if (!info || info.precision === 'float16') continue; // float16 paths are not accepted yet (edge)
    const p = await probeBackend().catch(() => null);
    if (!p || !agreesWith(reference, p)) continue;
    probe[info.backend] = p.msPerStep;
    if (
      p.msPerStep < best.ms &&
      (probeSoftware || mayWin(candidate.kind, p.msPerStep, reference.msPerStep))
    )
      best = { info, ms: p.msPerStep };
  }
  await tf.setBackend(best.info.backend);
  return { ...best.info, probe };
}
