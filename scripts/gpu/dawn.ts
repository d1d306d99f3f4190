// Puts TensorFlow.js's WebGPU backend on Dawn's Node bindings (the `webgpu` package) in this process:
// the same backend the browser worker uses, on whichever adapter the environment offers (see
// drivers.ts for how the environment is made; docs/gpu.md for what was measured).
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { requestDeviceWithFeatures } from '../../shared/kernels/features.ts';

export type FeatureLevel = 'core' | 'compatibility';

export interface DawnOptions {
  /** Dawn's create() flags, e.g. `backend=vulkan` or `backend=opengles`. */
  flags: string[];
  /** 'compatibility' for Dawn's OpenGL ES backend, which offers no core adapter. */
  featureLevel: FeatureLevel;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  featureLevel: FeatureLevel;
  features: string[];
  /** The subgroup sizes the adapter may use (GPUAdapterInfo; 0 where it does not say). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

/** TypeScript's DOM types predate featureLevel ('core' | 'compatibility'); Dawn takes it. */
type AdapterOptions = GPURequestAdapterOptions & { featureLevel?: FeatureLevel };
const requestAdapter = (gpu: GPU, o: AdapterOptions) =>
  (gpu.requestAdapter as (o: AdapterOptions) => Promise<GPUAdapter | null>).call(gpu, o);

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/**
 * dawn.node itself: a carried bundle names the binary in TABGRID_DAWN_NODE (it has no
 * node_modules); here the package's own loader, which also unmaps buffers on device.destroy().
 */
async function loadDawn(): Promise<DawnModule> {
  const carried = process.env.TABGRID_DAWN_NODE;
  if (carried) return createRequire(import.meta.url)(carried) as DawnModule;
  const name = 'webgpu'; // a variable, so a bundler leaves the package out of a carried bundle
  return (await import(name)) as DawnModule;
}

/** A `navigator.gpu` whose adapters have the requested feature level, for tfjs's own request. */
function wrapGpu(gpu: GPU, featureLevel: FeatureLevel): GPU {
  return new Proxy(gpu, {
    get(target, key) {
      if (key === 'requestAdapter') {
        return async (options: GPURequestAdapterOptions = {}) => {
          const adapter = await requestAdapter(target, { ...options, featureLevel });
          return adapter && raiseStorageLimit(adapter);
        };
      }
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * tfjs asks for a device without raising maxStorageBuffersPerShaderStage, so it gets the default:
 * 8 in core, 4 in compatibility mode, where tfjs's Adam-style kernels with 5+ bindings would fail.
 * Asking for the adapter's own limit (16 on Mesa's GL ES and lavapipe) changes no kernel. It asks
 * for no optional feature either: the kernels' `subgroups` and `shader-f16` are added (features.ts).
 */
function raiseStorageLimit(adapter: GPUAdapter): GPUAdapter {
  const requestDevice = adapter.requestDevice.bind(adapter);
  return new Proxy(adapter, {
    get(target, key) {
      if (key === 'requestDevice') {
        return (d: GPUDeviceDescriptor = {}) =>
          requestDeviceWithFeatures(target, requestDevice, {
            ...d,
            requiredLimits: {
              ...d.requiredLimits,
              maxStorageBuffersPerShaderStage: target.limits.maxStorageBuffersPerShaderStage,
            },
          });
      }
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * Makes `webgpu` the current tfjs backend on Dawn, or throws with the reason (no adapter: the
 * driver environment is missing or Dawn refused it). Call once per process, before any tensor.
 */
export async function useDawn(o: DawnOptions): Promise<AdapterSummary> {
  const dawn = await loadDawn();
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUShaderStage, … that tfjs reads
  const gpu = dawn.create(o.flags);
  const probe = await requestAdapter(gpu, { featureLevel: o.featureLevel });
  if (!probe)
    throw new Error(`Dawn offers no ${o.featureLevel} adapter with flags [${o.flags.join(' ')}]`);
  const info = probe.info;
  // Node 22's navigator has no gpu, and assigning one to it is ignored: define it.
  Object.defineProperty(globalThis.navigator, 'gpu', {
    value: wrapGpu(gpu, o.featureLevel),
    configurable: true,
  });
  await import('@tensorflow/tfjs-backend-webgpu'); // registers 'webgpu' only where navigator.gpu exists
  if (!(await tf.setBackend('webgpu')))
    throw new Error('tfjs could not initialise the webgpu backend on Dawn');
  await tf.ready();
  if (tf.getBackend() !== 'webgpu') throw new Error(`tfjs fell back to ${tf.getBackend()}`);
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: Boolean(
      (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter,
    ),
    featureLevel: o.featureLevel,
    features: [...probe.features].sort(),
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
  };
}
