// The optional WebGPU features Tabgrid's kernels can use (`subgroups`, `shader-f16`) and how a device
// gets them: tfjs-backend-webgpu 4.22 creates the device itself and asks for `timestamp-query` alone
// (its base.ts), so the adapter's requestDevice is wrapped to ask for these too where the adapter has
// them, and the device's createShaderModule moves a kernel's `enable` directives to the top of the
// module: tfjs puts its own declarations before a program's code, and WGSL wants directives first.
// Which variant a kernel compiles is chosen here once per process (docs/gpu.md).
import * as tf from '@tensorflow/tfjs';

export const OPTIONAL_FEATURES = ['subgroups', 'shader-f16'] as const;

/** Moves WGSL `enable …;` lines from anywhere in `code` to its start, each extension once. */
export function hoistEnables(code: string): string {
  const names = new Set<string>();
  const rest = code.replace(/^[ \t]*enable[ \t]+([\w \t,]+);[ \t]*$/gm, (_, list: string) => {
    for (const n of list.split(',')) if (n.trim()) names.add(n.trim());
    return '';
  });
  return names.size ? `enable ${[...names].join(', ')};\n${rest}` : code;
}

/** The parts of WebGPU's GPUAdapter, GPUDevice and its descriptor used here (shared/ has no DOM types). */
interface Features {
  has(name: string): boolean;
}
export interface DeviceLike {
  features: Features;
  createShaderModule(d: { code: string }): unknown;
}
export interface DeviceDescriptorLike {
  requiredFeatures?: Iterable<string>;
}

/**
 * `request(descriptor)` (an adapter's requestDevice) with the OPTIONAL_FEATURES `adapter` has added
 * to the required features; the device it returns hoists `enable` directives in its shader modules.
 */
export async function requestDeviceWithFeatures<
  D extends DeviceLike,
  R extends DeviceDescriptorLike,
>(adapter: { features: Features }, request: (d: R) => Promise<D>, descriptor: R): Promise<D> {
  const extra = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await request({
    ...descriptor,
    requiredFeatures: [...(descriptor.requiredFeatures ?? []), ...extra],
  } as R);
  const create = device.createShaderModule.bind(device);
  // An own property over the prototype's method (defined, not assigned: a native binding's method
  // may be read-only), which tfjs calls.
  Object.defineProperty(device, 'createShaderModule', {
    value: (d: { code: string }) => create({ ...d, code: hoistEnables(d.code) }),
    configurable: true,
    writable: true,
  });
  return device;
}

/** Whether the running tfjs WebGPU backend's device has `feature` (false on any other backend). */
export function deviceHas(feature: (typeof OPTIONAL_FEATURES)[number]): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  const device = (tf.backend() as unknown as { device?: DeviceLike }).device;
  return Boolean(device?.features.has(feature));
}

let subgroups = false;

/**
 * Has the row reductions (program.ts's workgroupReduce) use subgroup operations where the device has
 * the feature (`on`), or workgroup memory alone. Programs built afterwards compile that variant.
 */
export function useSubgroups(on: boolean): void {
  subgroups = on && deviceHas('subgroups');
}

/** Whether programs built now use subgroup operations. */
export const subgroupsOn = (): boolean => subgroups;
