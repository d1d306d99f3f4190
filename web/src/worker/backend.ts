// Picks the TensorFlow.js backend: WebGPU when a real adapter exists and computes correctly,
// otherwise WASM (threaded under cross-origin isolation), otherwise the plain CPU backend.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { BackendInfo, BackendPreference } from './types.ts';

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

async function webgpuAdapter(): Promise<AdapterInfoLike | null> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ info?: AdapterInfoLike; isFallbackAdapter?: boolean } | null> } }).gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return { ...info, isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false };
}

/** A software adapter (SwiftShader) trains 20–70× slower than WASM (PITFALLS): only when asked. */
function isSoftware(a: AdapterInfoLike): boolean {
  return Boolean(a.isFallbackAdapter) || /swiftshader/i.test(`${a.architecture} ${a.description} ${a.vendor}`);
}

/** The backend must compute a known matmul correctly (async read only: PITFALLS). */
async function sane(): Promise<boolean> {
  const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const out = tf.matMul(a, a);
  const v = await out.data();
  tf.dispose([a, out]);
  return [7, 10, 15, 22].every((x, i) => Math.abs(v[i]! - x) < 1e-4);
}

async function use(name: string): Promise<boolean> {
  // setBackend's boolean is the truth; getBackend() may still name a backend that failed (PITFALLS).
  if (!(await tf.setBackend(name).catch(() => false))) return false;
  await tf.ready();
  return tf.getBackend() === name && (await sane());
}

/** `threads` overrides the WASM thread count (benchmarks); the default is every core. */
export async function pickBackend(preference: BackendPreference, options: { threads?: number } = {}): Promise<BackendInfo> {
  if (preference === 'webgpu' || preference === 'auto') {
    const adapter = await webgpuAdapter();
    if (adapter && (preference === 'webgpu' || !isSoftware(adapter)) && (await use('webgpu'))) {
      const label = [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' ');
      return { backend: 'webgpu', adapter: label || 'unknown adapter' };
    }
  }
  if (preference !== 'cpu') {
    setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    });
    // tfjs caps its pool at hardwareConcurrency / 2; threads need cross-origin isolation.
    const threads = self.crossOriginIsolated ? (options.threads ?? Math.max(1, navigator.hardwareConcurrency || 1)) : 1;
    setThreadsCount(threads);
    if (await use('wasm')) return { backend: 'wasm', threads: getThreadsCount() }; // what XNNPACK got
  }
  if (await use('cpu')) return { backend: 'cpu' };
  throw new Error('No TensorFlow.js backend works in this browser.');
}
