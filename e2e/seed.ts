// A campaign of its own for a browser spec, seeded into the running e2e edge's D1 (as
// e2e/widget.spec.ts does), so that no other spec's volunteers can take its work.
import { ensureDataset } from '../datasets/build.ts';
import { tinyCampaign } from '../scripts/lib/campaigns.ts';
import { seedCampaign } from '../scripts/lib/local-edge.ts';
import { E2E_PERSIST } from './d1.ts';

/**
 * Tiny GPTs (the tiny preset), one per seed; `steps` (a multiple of 6) lengthens them, so that the
 * fault tests can interrupt them mid-training (scripts/lib/campaigns.ts's faultsCampaign: 600).
 */
export async function seedTinyCampaign(
  id: string,
  name: string,
  seeds: number[],
  steps?: number,
): Promise<void> {
  if (steps !== undefined && steps % 6)
    throw new Error('steps: a multiple of 6 (six curve points)');
  const { manifest, manifestSha256 } = await ensureDataset('sotu');
  const tiny = tinyCampaign(manifest, manifestSha256);
  const base = tiny.specs[0]!;
  await seedCampaign(process.env.E2E_PERSIST ?? E2E_PERSIST, {
    ...tiny,
    id,
    name,
    brief: `${name}: tiny GPTs for the browser tests.`,
    specs: seeds.map((seed) => ({
      ...base,
      seed,
      train: steps ? { ...base.train, steps, curveEvery: steps / 6 } : base.train,
    })),
  });
}
