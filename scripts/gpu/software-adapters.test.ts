// The worker's adapter classification (web/src/worker/probe.ts) on the adapters measured on these
// machines: no CPU rasteriser — SwiftShader, lavapipe, Dawn's or ANGLE's GL ES over llvmpipe — may
// win `auto`, while a GPU that names its vendor wins whenever its probe is faster than WASM's.
import { describe, expect, it } from 'vitest';
import {
  adapterInfoOf,
  adapterKind,
  isSoftwareRenderer,
  mayWin,
  UNIDENTIFIED_MARGIN,
} from '../../web/src/worker/probe.ts';

// What each adapter reported (GPUAdapterInfo), copied from the runs recorded in docs/gpu.md.
const swiftshader = {
  vendor: 'google',
  architecture: 'swiftshader',
  description: 'SwiftShader Device (Subzero)',
  isFallbackAdapter: true,
};
const lavapipe = {
  vendor: 'mesa',
  architecture: 'software',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
  isFallbackAdapter: true,
};
const dawnGles = {
  vendor: '',
  architecture: '',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6',
  isFallbackAdapter: false,
};
// Chromium's ANGLE-GLES compatibility adapter over llvmpipe: nothing but isFallbackAdapter false.
const angleGles = {
  vendor: '',
  architecture: '',
  device: '',
  description: '',
  isFallbackAdapter: false,
};
const nvidia = {
  vendor: 'nvidia',
  architecture: 'hopper',
  device: '',
  description: 'NVIDIA H100 80GB HBM3',
  isFallbackAdapter: false,
};
const apple = { vendor: 'apple', architecture: 'metal-3', isFallbackAdapter: false };

describe('adapterKind', () => {
  it('names every CPU rasteriser measured here software, whatever isFallbackAdapter says', () => {
    expect(adapterKind(swiftshader)).toBe('software');
    expect(adapterKind({ ...swiftshader, isFallbackAdapter: false })).toBe('software');
    expect(adapterKind(lavapipe)).toBe('software');
    expect(adapterKind({ ...lavapipe, isFallbackAdapter: false })).toBe('software');
    expect(adapterKind(dawnGles)).toBe('software'); // its device names llvmpipe
    expect(
      adapterKind({
        vendor: 'microsoft',
        architecture: '',
        description: 'Microsoft Basic Render Driver',
      }),
    ).toBe('software');
  });

  it('cannot name an adapter that says nothing about itself: unidentified, not hardware', () => {
    expect(adapterKind(angleGles)).toBe('unidentified');
    expect(adapterKind({})).toBe('unidentified');
  });

  it('takes a GPU that names its vendor for hardware', () => {
    expect(adapterKind(nvidia)).toBe('hardware');
    expect(adapterKind(apple)).toBe('hardware');
    expect(
      adapterKind({
        vendor: 'intel',
        architecture: 'gen-12lp',
        description: 'Intel(R) UHD Graphics 770 (ADL-S GT1)',
      }),
    ).toBe('hardware');
  });

  it('reads WebGL renderer strings the same way', () => {
    expect(
      isSoftwareRenderer('ANGLE (Mesa, llvmpipe (LLVM 15.0.6, 256 bits), OpenGL ES 3.2)'),
    ).toBe(true);
    expect(
      isSoftwareRenderer(
        'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)',
      ),
    ).toBe(true);
    expect(
      isSoftwareRenderer('ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)'),
    ).toBe(false);
  });
});

describe('mayWin', () => {
  // nanogpt-cpu on this 2-core machine (docs/gpu.md): WASM 171 ms/step, Dawn GL ES over llvmpipe 929.
  const wasmMs = 171;
  it('never lets a software adapter win, however fast its probe', () => {
    expect(mayWin(adapterKind(lavapipe), 10, wasmMs)).toBe(false);
    expect(mayWin(adapterKind(dawnGles), 10, wasmMs)).toBe(false);
  });

  it('lets an unidentified adapter win only by the margin', () => {
    expect(mayWin('unidentified', 929, wasmMs)).toBe(false); // what GL ES over llvmpipe measured
    expect(mayWin('unidentified', wasmMs / 1.2, wasmMs)).toBe(false); // faster, but inside the margin
    expect(mayWin('unidentified', wasmMs / UNIDENTIFIED_MARGIN - 1, wasmMs)).toBe(true);
  });

  it('lets a hardware adapter win whenever it is faster than WASM', () => {
    expect(mayWin(adapterKind(nvidia), wasmMs - 1, wasmMs)).toBe(true);
    expect(mayWin(adapterKind(nvidia), wasmMs + 1, wasmMs)).toBe(false);
  });
});

describe('adapterInfoOf', () => {
  // GPUAdapterInfo as browsers and Dawn define it: fields are getters on the prototype, not own properties.
  class AdapterInfo {
    get vendor() {
      return 'nvidia';
    }
    get architecture() {
      return 'hopper';
    }
    get device() {
      return '';
    }
    get description() {
      return 'NVIDIA H100 80GB HBM3';
    }
  }

  it('reads the prototype getters that a spread drops', () => {
    const info = new AdapterInfo();
    expect({ ...info }).toEqual({}); // why it reads each field
    const read = adapterInfoOf({ info: info as never, isFallbackAdapter: false });
    expect(read).toEqual({
      vendor: 'nvidia',
      architecture: 'hopper',
      device: '',
      description: 'NVIDIA H100 80GB HBM3',
      isFallbackAdapter: false,
    });
    expect(adapterKind(read)).toBe('hardware');
  });

  it('takes isFallbackAdapter from the adapter where the info lacks it', () => {
    expect(adapterInfoOf({ isFallbackAdapter: true }).isFallbackAdapter).toBe(true);
    expect(adapterKind(adapterInfoOf({ isFallbackAdapter: true }))).toBe('software');
  });
});
