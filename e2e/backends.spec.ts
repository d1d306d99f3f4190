// The model trains on every TensorFlow.js backend in real Chromium — WASM, software WebGPU
// (SwiftShader), WebGL and the plain CPU backend — to the same losses: the bench page
// (web/bench.html) trains one tiny spec per backend in a fresh worker, with the volunteer's own
// backend choice and training loop.
import { expect, test } from '@playwright/test';
import { ensureDataset } from '../datasets/build.ts';
import { PRESETS } from '../shared/model/presets.ts';
import type { ExperimentSpec } from '../shared/spec.ts';
import { TAU_BPB, TAU_CURVE } from '../shared/verify.ts';
import { openBench } from '../scripts/lib/bench-browser.ts';
import type { BenchBackend, BenchResult } from '../web/src/bench/types.ts';

test('the tiny GPT trains on wasm, webgpu, webgl and cpu to losses that agree', async () => {
  test.setTimeout(8 * 60_000);
  const { manifest, manifestSha256 } = await ensureDataset('sotu');
  const p = PRESETS.tiny;
  const spec: ExperimentSpec = {
    template: 'gpt-char',
    dataset: { id: manifest.id, sha256: manifestSha256 },
    model: { ...p.model, vocabSize: manifest.vocab.length },
    train: { ...p.train, steps: 10, curveEvery: 5 },
    seed: 5,
    evalWindows: p.evalWindows,
  };
  const session = await openBench((line) => console.log(line));
  try {
    const run = (backend: BenchBackend) => session.run({ backend, spec, datasetId: manifest.id });
    const wasm = await run('wasm');
    const gaps: Record<string, { loss: number; bpb: number }> = {};
    for (const backend of ['webgl', 'webgpu', 'cpu'] as const) {
      const r: BenchResult = await run(backend);
      expect(r.info.backend).toBe(backend);
      expect(r.info.precision ?? 'float32').toBe('float32');
      gaps[backend] = {
        loss: Math.max(...r.losses.map((x, i) => Math.abs(x - wasm.losses[i]!))),
        bpb: Math.abs(r.valBpb - wasm.valBpb),
      };
      expect(r.losses).toHaveLength(10);
      expect(gaps[backend]!.loss).toBeLessThanOrEqual(TAU_CURVE);
      expect(gaps[backend]!.bpb).toBeLessThanOrEqual(TAU_BPB);
    }
    console.log(`backends against wasm, 10 steps: ${JSON.stringify(gaps)}`);
    // The probe: three steps on each backend, the fastest whose losses match WASM's trains.
    const auto = await run('auto');
    const probe = auto.info.probe!;
    expect(Object.keys(probe).sort()).toEqual(['wasm', 'webgl', 'webgpu']);
    const fastest = Object.entries(probe).sort((a, b) => a[1] - b[1])[0]![0];
    expect(auto.info.backend).toBe(fastest);
    expect(
      Math.max(...auto.losses.map((x, i) => Math.abs(x - wasm.losses[i]!))),
    ).toBeLessThanOrEqual(TAU_CURVE);
    console.log(`probe (ms/step): ${JSON.stringify(probe)} → ${auto.info.backend}`);
  } finally {
    await session.close();
  }
});
