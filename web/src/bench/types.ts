// What the benchmark page runs and returns: the same spec trained by the shared loop in a Web
// Worker on one named backend. Shared by the page, its worker and the Node scripts that drive it.
import type { ExperimentSpec } from '../../../shared/spec.ts';
import type { BackendInfo } from '../worker/types.ts';

export type BenchBackend = 'wasm' | 'webgpu' | 'webgl' | 'cpu' | 'auto'; // auto: the probe (software GPUs included)

export interface BenchRequest {
  backend: BenchBackend;
  spec: ExperimentSpec;
  datasetId: string; // served at /data/<id>/
  threads?: number; // WASM threads; default: the trainer's choice
  /**
   * Calibration: start from another seed's initial weights (initSeed) or batch order (batchSeed)
   * than spec.seed's, everything else equal — passed to the loop as a step-0 checkpoint.
   */
  variant?: { initSeed?: number; batchSeed?: number };
  /** After training, profile this many extra steps kernel by kernel (tf.profile). 0: none. */
  profileSteps?: number;
  /**
   * A continuation (docs/lineage.md): start from the checkpoint at `url`, checked against its hash
   * (shared/commit.ts), as a volunteer's browser starts from its parent's.
   */
  resume?: { url: string; sha256: string };
  /** Return the final checkpoint (shared/commit.ts's blob, base64) and its hash in `final`. */
  keepFinal?: boolean;
}

export interface KernelTime {
  name: string; // the kernel's name (MatMul → BatchMatMul, Transpose, …)
  ms: number; // kernel time per profiled step
  calls: number; // calls per profiled step
}

export interface BenchResult {
  info: BackendInfo;
  stepMs: number[]; // wall time of every step, including the loss read-back
  losses: number[];
  valBpb: number;
  valLoss: number;
  curve: number[];
  evalMs: number;
  /**
   * Kernel times per profiled step, slowest first; wallMs is the step's wall time under profiling,
   * kernelMs the sum without "forward" (tf.customGrad ops, whose inner kernels are listed too).
   */
  profile?: { wallMs: number; kernelMs: number; kernels: KernelTime[] };
  final?: { base64: string; sha256: string; bytes: number };
}

export interface BenchApi {
  run(req: BenchRequest, log: (line: string) => void): Promise<BenchResult>;
}

/** What the page exposes to the scripts that drive it (Playwright's page.evaluate). */
export interface BenchWindow {
  run(req: BenchRequest): Promise<BenchResult>;
  crossOriginIsolated: boolean;
}

declare global {
  interface Window {
    tabgridBench: BenchWindow;
  }
}
