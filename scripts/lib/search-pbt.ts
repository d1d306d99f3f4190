// bench:search's PBT entry (docs/strategies.md): a population trained for real with the project's
// own loop, each generation a continuation of a verified-style checkpoint — its own, or, when it
// exploits, the donor's, passed as the checkpoint blob a volunteer would download
// (shared/commit.ts) — decided by the edge's own rule (shared/pbt.ts). Random search trains the
// same sampled configurations for the same steps without exploiting: the same space, the same
// draws and exactly the same FLOPs.
import { decodeCheckpoint, encodeCheckpoint } from '../../shared/commit.ts';
import { pbtChildSpec, pbtDecision, type MemberResult } from '../../shared/pbt.ts';
import { CampaignBrief, sampleExperiments } from '../../shared/search-space.ts';
import { specHash, trainingFlops, type ExperimentSpec } from '../../shared/spec.ts';
import { trainExperiment, type TrainCheckpoint, type TrainData } from '../../shared/train/loop.ts';
import { PBT_SPACE } from '../data/curve-briefs.ts';
import { nodeTrainer } from './node-trainer.ts';

export interface PbtOptions {
  population: number;
  generations: number;
  segmentSteps: number;
  seed: number;
}

async function train(spec: ExperimentSpec, data: TrainData, resumeFrom?: TrainCheckpoint) {
  let final: TrainCheckpoint | undefined;
  const out = await trainExperiment(spec, data, {
    resumeFrom,
    onCommit: async (c) => void (final = c),
  });
  if (out.stopped || !final) throw new Error('training stopped');
  return { valBpb: out.metrics.valBpb, final };
}

/** PBT and random search on one population's draws; val_bpb as the eval windows give it. */
export async function pbtAgainstRandom(o: PbtOptions) {
  const t0 = performance.now();
  const brief = CampaignBrief.parse({
    ...PBT_SPACE,
    experiments: o.population,
    steps: o.segmentSteps,
    seed: o.seed,
    strategy: { kind: 'pbt', generations: o.generations, quantile: 0.25 },
  });
  if (brief.strategy.kind !== 'pbt') throw new Error('unreachable');
  const strategy = brief.strategy;
  const { data, manifestSha256, vocabSize } = await nodeTrainer(brief.datasetId);
  const roots = sampleExperiments(brief, {
    ref: { id: brief.datasetId, sha256: manifestSha256 },
    vocabSize,
  });
  const total = o.generations * o.segmentSteps;

  // Random search: each configuration trained for the whole schedule in one run.
  const random = [];
  for (const root of roots) {
    const spec = { ...root, train: { ...root.train, steps: total } };
    random.push({
      lr: root.train.lr,
      valBpb: (await train(spec, data)).valBpb,
      flops: trainingFlops(spec),
    });
  }
  const randomFlops = random.reduce((a, r) => a + r.flops, 0);
  const randomBest = Math.min(...random.map((r) => r.valBpb));
  const randomCpuS = (performance.now() - t0) / 1000;

  // PBT: generation by generation; every member's decision from the generation's results.
  const members = roots.map((spec, i) => ({
    member: `m${i}`,
    id: `m${i}`,
    spec,
    state: undefined as TrainCheckpoint | undefined,
  }));
  const blobs = new Map<string, { spec: ExperimentSpec; bytes: Uint8Array; commitment: string }>();
  const perGeneration: { best: number; flops: number; exploits: number }[] = [];
  let flops = 0;
  for (let g = 0; g < o.generations; g++) {
    const results: MemberResult[] = [];
    for (const m of members) {
      const { valBpb, final } = await train(m.spec, data, m.state);
      const { bytes, commitment } = await encodeCheckpoint(await specHash(m.spec), final);
      blobs.set(m.id, { spec: m.spec, bytes, commitment });
      results.push({ member: m.member, experimentId: m.id, valBpb });
      flops += trainingFlops(m.spec);
    }
    let exploits = 0;
    if (g + 1 < o.generations)
      for (const m of members) {
        const own = results.find((r) => r.experimentId === m.id)!;
        const d = pbtDecision(strategy, `bench-pbt-${o.seed}`, g, own, results);
        const parent = blobs.get(d.parent)!;
        m.spec = pbtChildSpec(parent.spec, d, parent.commitment);
        // What the member's volunteer would download: the blob, checked against its commitment.
        const { state } = await decodeCheckpoint(parent.bytes, parent.commitment);
        m.state = { ...state, wallMs: 0 };
        m.id = `${m.member}-g${g + 1}`;
        if (d.action === 'exploit') exploits++;
      }
    perGeneration.push({ best: Math.min(...results.map((r) => r.valBpb)), flops, exploits });
  }
  const pbtBest = perGeneration.at(-1)!.best;
  const reached = perGeneration.find((p) => p.best <= randomBest);
  return {
    flops,
    best: pbtBest,
    randomBestAtEqualFlops: randomBest, // the same FLOPs by construction
    flopsToRandomBest: reached?.flops ?? null,
    generationToRandomBest: reached ? perGeneration.indexOf(reached) : null,
    exploits: perGeneration.reduce((a, p) => a + p.exploits, 0),
    bestByGeneration: perGeneration.map((p) => Number(p.best.toFixed(4))),
    cpuS: Number(((performance.now() - t0) / 1000 - randomCpuS).toFixed(1)),
    pbtGainBpb: randomBest - pbtBest,
    // Random search on the same draws: it knows its best only when all of it is in.
    random: { flops: randomFlops, best: randomBest, cpuS: Number(randomCpuS.toFixed(1)) },
    population: o.population,
    generations: o.generations,
    segmentSteps: o.segmentSteps,
  };
}
