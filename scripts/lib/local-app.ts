// The whole app on a local edge: what is stale built (the sotu dataset, dist/), local D1 migrated
// and the sotu dataset seeded in it as an ordinary registered dataset (files in R2, by hash). Shared by `npm start` and `npm run bench:page`.
import { ensureDataset } from '../../datasets/build.ts';
import { buildAll } from '../build.ts';
import { migrate, seedBuiltInDataset } from './local-edge.ts';

/** Builds what is stale, migrates the local D1 in `persist` and seeds the sotu dataset there. */
export async function prepareLocalApp(persist: string) {
  await buildAll();
  const sotu = await ensureDataset('sotu');
  await migrate(persist);
  await seedBuiltInDataset(persist, sotu);
  return { manifest: sotu.manifest, manifestSha256: sotu.manifestSha256 };
}
