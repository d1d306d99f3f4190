// The plumbing that lets the fused kernels use optional WebGPU features under tfjs: `enable` directives
// moved to the top of a module, the device asking for the features its adapter has, and the
// command-line names of the fused kernels (register.ts's fusedKernelsOf).
import { describe, expect, it } from 'vitest';
import { hoistEnables, requestDeviceWithFeatures } from './features.ts';
import { fusedKernelsOf } from './register.ts';

describe('hoistEnables', () => {
  it('moves every enable directive to the start, each extension once, and keeps the rest in order', () => {
    const code =
      'struct U { a : f32, };\n  enable subgroups;\nfn f() {}\n enable f16, subgroups;\nfn g() {}';
    const out = hoistEnables(code);
    expect(out.split('\n')[0]).toBe('enable subgroups, f16;');
    expect(out.match(/enable/g)).toHaveLength(1);
    expect(out.indexOf('struct U')).toBeLessThan(out.indexOf('fn f()'));
    expect(out.indexOf('fn f()')).toBeLessThan(out.indexOf('fn g()'));
  });

  it('leaves code without directives as it is (a name containing "enable" included)', () => {
    const code = 'fn main() { let enabled = 1; }';
    expect(hoistEnables(code)).toBe(code);
  });
});

describe('requestDeviceWithFeatures', () => {
  it('asks for the optional features the adapter has, keeps the asked ones, and hoists in createShaderModule', async () => {
    const seen: { features: string[]; code: string[] } = { features: [], code: [] };
    const device = {
      features: new Set<string>(),
      createShaderModule(d: { code: string }) {
        seen.code.push(d.code);
        return d;
      },
    };
    const adapter = { features: new Set(['shader-f16', 'timestamp-query']) };
    const got = await requestDeviceWithFeatures(
      adapter,
      async (d: { requiredFeatures?: Iterable<string> }) => {
        seen.features = [...(d.requiredFeatures ?? [])];
        return device;
      },
      { requiredFeatures: ['timestamp-query'] },
    );
    expect(seen.features).toEqual(['timestamp-query', 'shader-f16']);
    got.createShaderModule({ code: 'fn a() {}\nenable f16;' });
    expect(seen.code[0]).toBe('enable f16;\nfn a() {}\n');
  });
});

describe('fusedKernelsOf', () => {
  it('reads stock, tabgrid, names and exclusions, and refuses unknown names', () => {
    expect(fusedKernelsOf('stock')).toBeUndefined();
    const all = fusedKernelsOf('tabgrid')!;
    expect(all).toContain('subgroups');
    expect(fusedKernelsOf('tabgrid,-subgroups')).toEqual(all.filter((n) => n !== 'subgroups'));
    expect(fusedKernelsOf('layerNorm,adamw')).toEqual(['layerNorm', 'adamw']);
    expect(() => fusedKernelsOf('tabgrid,-nothing')).toThrow(/no fused kernel nothing/);
  });
});
