// Registers Tabgrid's fused WGSL kernels with TensorFlow.js's WebGPU backend, all of them or the ones
// named: the model and the loop call a fused op only on WebGPU once it is registered (docs/gpu.md).
import * as tf from '@tensorflow/tfjs';
import { registerAdamWKernels } from './adamw.ts';
import { registerAttentionKernels } from './attention.ts';
import { registerCrossEntropyKernels } from './cross-entropy.ts';
import { useSubgroups } from './features.ts';
import { registerGeluKernels } from './gelu.ts';
import { registerLayerNormKernels } from './layer-norm.ts';
import { registerMatmulKernel, useTiledMatmul } from './matmul.ts';
import { enableFusedMlp } from './mlp.ts';

let transposedReads = false;

export const FUSED_KERNELS = {
  layerNorm: registerLayerNormKernels,
  attention: registerAttentionKernels,
  crossEntropy: registerCrossEntropyKernels,
  gelu: registerGeluKernels,
  adamw: registerAdamWKernels,
  // Not a kernel: gpt.ts's matmul gradient then has tfjs's matMul read operands transposed in place.
  transposedMatmul: () => {
    transposedReads = true;
  },
  // The MLP on the tiled matmul with GELU in its epilogue.
  mlp: () => {
    registerMatmulKernel();
    enableFusedMlp();
  },
  // Every other matmul of the model on the tiled kernel.
  matmul: () => {
    registerMatmulKernel();
    useTiledMatmul();
  },
  // Not a kernel: the row reductions (LayerNorm, AdamW's norm, wide cross-entropy) on subgroup
  // operations where the device has `subgroups` (features.ts; program.ts's workgroupReduce).
  subgroups: () => useSubgroups(true),
} as const;
export type FusedKernel = keyof typeof FUSED_KERNELS;

/** Registers the named fused kernels (default: all); harmless where WebGPU is absent, and idempotent. */
export function registerFusedKernels(
  names: readonly FusedKernel[] = Object.keys(FUSED_KERNELS) as FusedKernel[],
): void {
  for (const name of names) FUSED_KERNELS[name]();
}

/**
 * The fused kernels a command line names: `stock` (none: undefined), `tabgrid` (all), or names
 * (`layerNorm,adamw`); `-name` leaves one out of those before it (`tabgrid,-subgroups`).
 */
export function fusedKernelsOf(arg: string): FusedKernel[] | undefined {
  if (arg === 'stock') return undefined;
  const all = Object.keys(FUSED_KERNELS) as FusedKernel[];
  let names: FusedKernel[] = [];
  for (const item of arg.split(',')) {
    const name = item.replace(/^-/, '');
    if (name === 'tabgrid') names = [...all];
    else if (!(name in FUSED_KERNELS)) throw new Error(`no fused kernel ${name}`);
    else if (item.startsWith('-')) names = names.filter((n) => n !== name);
    else names.push(name as FusedKernel);
  }
  return names;
}

/** Whether gpt.ts's matmul gradient uses transposed reads: WebGPU, with `transposedMatmul` registered. */
export function transposedMatmulOn(): boolean {
  return transposedReads && tf.getBackend() === 'webgpu';
}
