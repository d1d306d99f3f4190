// `npm run record:curves -- [--space lr|broad] [--configs N]`: the learning curves bench:search
// replays (docs/strategies.md). Samples a brief's configurations with the campaign sampler and
// trains each with the project's own loop (TensorFlow.js WASM backend in Node, ~15× the CPU
// backend's speed here with the same val_bpb to 1e-6) as ASHA's rungs would — each rung continued
// from the previous one's checkpoint (bit-identical to one run: shared/train/loop.test.ts) — and
// writes every configuration's val_bpb and FLOPs at every rung to scripts/data/. Deterministic:
// the same brief gives the same table. The file is rewritten after each configuration, and a run
// that stopped part-way picks up where it left off.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { rungSteps } from '../shared/asha.ts';
import { continuationSpec } from '../shared/lineage.ts';
import { sampleExperiments } from '../shared/search-space.ts';
import { parameterCount, trainingFlops } from '../shared/spec.ts';
import { trainExperiment, type TrainCheckpoint } from '../shared/train/loop.ts';
import { CURVE_BRIEFS, type CurveTable } from './data/curve-briefs.ts';
import { nodeTrainer } from './lib/node-trainer.ts';
import { ROOT } from './lib/wrangler.ts';

const { values: opt } = parseArgs({
  options: {
    space: { type: 'string', default: 'broad' },
    configs: { type: 'string' }, // only the first N (a timing run)
    backend: { type: 'string', default: 'wasm' },
  },
});
const entry = CURVE_BRIEFS[opt.space as keyof typeof CURVE_BRIEFS];
if (!entry) throw new Error(`--space must be one of ${Object.keys(CURVE_BRIEFS).join(', ')}`);
const { brief, file } = entry;

const log = (line: string) => process.stderr.write(`${line}\n`);
const { data, manifestSha256, vocabSize } = await nodeTrainer(brief.datasetId, opt.backend);
const specs = sampleExperiments(brief, {
  ref: { id: brief.datasetId, sha256: manifestSha256 },
  vocabSize,
}).slice(0, opt.configs ? Number(opt.configs) : undefined);
const rungs = rungSteps(brief.steps, brief.strategy as { eta: number; maxSteps: number });
const path = join(ROOT, 'scripts', 'data', file);
const table: CurveTable = { brief, rungs, backend: `tfjs-${opt.backend} (Node)`, configs: [] };
if (existsSync(path)) {
  const before = JSON.parse(readFileSync(path, 'utf8')) as CurveTable;
  if (JSON.stringify(before.brief) === JSON.stringify(brief)) table.configs = before.configs;
}

const { format } = await import('prettier'); // as `npm run format` would leave it
const t0 = performance.now();
for (const [i, root] of specs.entries()) {
  if (i < table.configs.length) continue; // recorded by an earlier run of the same brief
  let spec = root;
  let resumeFrom: TrainCheckpoint | undefined;
  const valBpb: (number | null)[] = [];
  const flops: number[] = [];
  for (let k = 0; k < rungs.length; k++) {
    let final: TrainCheckpoint | undefined;
    try {
      const out = await trainExperiment(spec, data, {
        resumeFrom,
        onCommit: async (c) => void (final = c),
      });
      if (out.stopped) throw new Error('stopped');
      valBpb.push(Number(out.metrics.valBpb.toFixed(6)));
    } catch (err) {
      // A diverged run: no val_bpb from here on (never promoted, never the best), its FLOPs spent.
      if (!/diverged/.test(String(err))) throw err;
      valBpb.push(null);
    }
    flops.push(valBpb.at(-1) === null && valBpb.at(-2) === null ? 0 : trainingFlops(spec));
    resumeFrom = final;
    if (k + 1 < rungs.length)
      spec = continuationSpec(spec, `c${i}-r${k}`, '0'.repeat(64), {
        steps: rungs[k + 1]! - rungs[k]!,
      });
  }
  const { lr, batchSize, warmupSteps, weightDecay, beta2 } = root.train;
  const { nLayer, nEmbd } = root.model;
  table.configs.push({
    ...{ lr, batchSize, warmupSteps, weightDecay, beta2, nLayer, nEmbd },
    params: parameterCount(root.model),
    valBpb,
    flops,
  });
  writeFileSync(path, await format(JSON.stringify(table), { parser: 'json' }));
  log(
    `config ${i + 1}/${specs.length} (${((performance.now() - t0) / 60_000).toFixed(1)} min): lr ${lr} batch ${batchSize} ${nLayer}×${nEmbd} → ${valBpb.join(' → ')}`,
  );
}
log(`wrote scripts/data/${file} (${table.configs.length} configurations × ${rungs.length} rungs)`);
