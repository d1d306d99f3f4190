// The headless WebGPU harness: the shared GPT and training loop on TensorFlow.js's WebGPU backend over
// Dawn in Node, on every driver this machine offers (lavapipe after `npm run gpu:setup`; Dawn's
// OpenGL ES backend over the system's Mesa without it), must train to WASM's losses — and the
// worker's probe must never take those CPU rasterisers for a GPU; Tabgrid's fused WGSL kernels must
// (LayerNorm, attention, cross-entropy, GELU, AdamW, the tiled matmul and the MLP on it) compute what the stock ops compute on WASM,
// with the row reductions on subgroup operations where the adapter has `subgroups` (lavapipe) and on
// workgroup memory where it has not (GL ES); the matmul's f16 calibration variants must compile and
// stay near f32 where it has `shader-f16`. Skips only where no driver starts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sotuSlice } from '../../datasets/build.ts';
import { TAU_SPOT } from '../../shared/commit.ts';
import { adapterKind, mayWin } from '../../web/src/worker/probe.ts';
import { specFor, type Dataset } from './bench-core.ts';
import type { AdapterSummary } from './dawn.ts';
import { probeDrivers, runOnDriver, type Driver } from './drivers.ts';
import type { KernelCheck } from './kernel-check.ts';
import type { MatmulCheck } from './matmul-check.ts';
import type { StepsResult } from './steps.ts';

const STEPS = 3;
// f16 matmul errors relative to max(1, max |WASM|), measured on lavapipe: ≤ 3.2e-4 (f16-storage), ≤ 1.1e-2
// (f16-accumulate, dB summed over 768 rows); a broken f16 path is off by O(1).
const F16_BOUND = 0.05;
let data: Dataset;
let dir: string;
const working: { driver: Driver; adapter: AdapterSummary }[] = [];
const refused: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tabgrid-dawn-'));
  const built = await sotuSlice();
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(built.manifest));
  writeFileSync(join(dir, 'train.bin'), built.train);
  writeFileSync(join(dir, 'val.bin'), built.val);
  data = {
    id: built.manifest.id,
    sha256: '0'.repeat(64),
    vocabSize: built.manifest.vocab.length,
    dir,
  };
  for (const probe of await probeDrivers()) {
    if ('error' in probe) refused.push(`${probe.driver.name}: ${probe.error}`);
    else working.push(probe);
  }
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noDriver = () =>
  `Dawn starts on no driver here (${refused.join('; ') || 'no Vulkan ICD, no lavapipe from `npm run gpu:setup`, no Mesa EGL/GLES'}): docs/gpu.md`;

const steps = (driver: Driver | null, backend: string, kernels = 'stock') =>
  runOnDriver<StepsResult>(
    driver,
    join(import.meta.dirname, 'steps.ts'),
    [
      '--spec',
      JSON.stringify(specFor('tiny', data, 7)),
      '--data',
      dir,
      '--steps',
      String(STEPS),
      '--warmup',
      '1',
      '--backend',
      backend,
      '--kernels',
      kernels,
      '--profile',
      backend === 'webgpu' ? '1' : '0',
    ],
    {
      log: () => {},
      timeoutMs: 180_000,
    },
  );

describe('Dawn in Node', () => {
  it('trains the tiny preset on each driver with WASM losses, on an adapter the probe never picks', async (ctx) => {
    if (!working.length) ctx.skip(noDriver());
    const wasm = await steps(null, 'wasm');
    expect(wasm.backend).toBe('wasm');
    for (const { driver, adapter } of working) {
      const gpu = await steps(driver, 'webgpu');
      expect(gpu.backend, driver.name).toBe('webgpu');
      expect(gpu.adapter?.description, driver.name).toBe(adapter.description);
      // Measured: ≤ 3.4e-6 on demo and nanogpt-cpu, identical on tiny (docs/gpu.md); the probe's bound is TAU_SPOT.
      gpu.losses.forEach((loss, i) =>
        expect(
          Math.abs(loss - wasm.losses[i]!),
          `${driver.name} step ${i + 1}`,
        ).toBeLessThanOrEqual(TAU_SPOT),
      );
      // The model on Tabgrid's fused kernels (every one of them called: the profile) to WASM's losses too.
      const fused = await steps(driver, 'webgpu', 'tabgrid');
      expect(fused.profile?.tabgridKernels, driver.name).toBeGreaterThan(0);
      const names = fused.profile!.tabgridNames.join(' ');
      for (const k of [
        'TabgridAttention',
        'TabgridCrossEntropy',
        'TabgridLayerNorm',
        'TabgridAdamW',
        'TabgridMatMul',
      ])
        expect(names, driver.name).toContain(k);
      fused.losses.forEach((loss, i) =>
        expect(
          Math.abs(loss - wasm.losses[i]!),
          `${driver.name} fused, step ${i + 1}`,
        ).toBeLessThanOrEqual(TAU_SPOT),
      );
      if (driver.name !== 'vulkan')
        expect(
          mayWin(adapterKind(adapter), gpu.msPerStep, wasm.msPerStep),
          `${driver.name}: ${JSON.stringify(adapter)}`,
        ).toBe(false);
    }
  }, 600_000);

  it('runs the fused kernels to the stock ops on WASM: LayerNorm, attention, cross-entropy, GELU, matmul and MLP values and gradients, AdamW updates', async (ctx) => {
    if (!working.length) ctx.skip(noDriver());
    for (const { driver, adapter } of working) {
      const f16 = adapter.features.includes('shader-f16');
      const k = await runOnDriver<KernelCheck>(
        driver,
        join(import.meta.dirname, 'kernel-check.ts'),
        ['--iterations', '1', ...(f16 ? ['--f16'] : [])],
        { log: () => {}, timeoutMs: 240_000 },
      );
      expect(k.reference).toBe('wasm');
      // The reductions ran on subgroup operations exactly where the adapter offers them.
      expect(k.subgroups, driver.name).toBe(adapter.features.includes('subgroups'));
      expect(k.layerNorm.length).toBe(4);
      // Measured ≤ 1.3e-6 (relative to max(1, |WASM|)) at these shapes, 5.2e-6 for dw at 16384×384 (docs/gpu.md).
      for (const c of k.layerNorm) {
        for (const what of ['value', 'dx', 'dw'] as const)
          expect(c[what], `${driver.name} ${c.rows}×${c.C} ${what}`).toBeLessThanOrEqual(1e-5);
      }
      // Causal attention at nanogpt-cpu's, demo's and two odd shapes: measured ≤ 6.4e-7 on both drivers (docs/gpu.md).
      expect(k.attention.length).toBe(4);
      for (const c of k.attention) {
        for (const what of ['value', 'dq', 'dk', 'dv'] as const)
          expect(
            c[what],
            `${driver.name} ${c.B}×${c.T}×${c.nh}×${c.hs} ${what}`,
          ).toBeLessThanOrEqual(1e-5);
      }
      // Softmax cross-entropy at nanogpt-cpu's and demo's (B·T, V), odd sizes and V = 1500 (a workgroup per row): measured ≤ 4.6e-7.
      expect(k.crossEntropy.length).toBe(5);
      for (const c of k.crossEntropy) {
        for (const what of ['value', 'dx'] as const)
          expect(c[what], `${driver.name} ${c.rows}×${c.V} ${what}`).toBeLessThanOrEqual(1e-5);
      }
      // GELU at nanogpt-cpu's and demo's MLP sizes and an odd one.
      expect(k.gelu.length).toBe(3);
      for (const c of k.gelu) {
        for (const what of ['value', 'dx'] as const)
          expect(c[what], `${driver.name} GELU ${c.rows}×${c.C} ${what}`).toBeLessThanOrEqual(1e-5);
      }
      // The tiled matmul at nanogpt-cpu's c_attn and MLP output shapes and two sizes off its tiles and
      // off multiples of 4; the fused MLP at nanogpt-cpu's and an odd size: measured bit-identical and ≤ 3.4e-7.
      expect(k.matmul.map((c) => c.op)).toEqual([
        'matmul',
        'matmul',
        'matmul',
        'matmul',
        'mlp',
        'mlp',
      ]);
      for (const c of k.matmul) {
        for (const [i, e] of [c.value, ...c.grads].entries())
          expect(
            e,
            `${driver.name} ${c.op} ${c.shape} ${i ? `grad ${i}` : 'value'}`,
          ).toBeLessThanOrEqual(1e-5);
        expect(c.grads.length, `${c.op} ${c.shape}`).toBe(c.op === 'matmul' ? 2 : 3);
      }
      // Three clipped updates of nanogpt-cpu's parameters: measured ≤ 1.2e-7 (weights), 2.8e-9 (m).
      for (const what of ['weights', 'm', 'v'] as const)
        expect(k.adamw[what], `${driver.name} AdamW ${what}`).toBeLessThanOrEqual(1e-6);
      // f16 (calibration only): it ran in f16 (not f32's exact result) and stayed near f32.
      if (f16) {
        for (const p of ['f16-storage', 'f16-accumulate'] as const) {
          const checks = (k.f16 as Record<string, MatmulCheck[]>)[p]!;
          expect(checks.length, p).toBe(k.matmul.length);
          const worst = Math.max(...checks.flatMap((c) => [c.value, ...c.grads]));
          expect(worst, `${driver.name} ${p}`).toBeGreaterThan(1e-5);
          expect(worst, `${driver.name} ${p}`).toBeLessThanOrEqual(F16_BOUND);
        }
      }
    }
  }, 600_000);
});
