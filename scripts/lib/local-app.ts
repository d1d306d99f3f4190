// The whole app on a local edge: what is stale built (the sotu dataset, dist/), local D1 migrated
// and the sotu dataset registered in it. Shared by `npm start` and `npm run bench:page`.
import { ensureDataset } from '../../datasets/build.ts';
import { buildAll } from '../build.ts';
import { migrate, registerDataset } from './local-edge.ts';

/** Builds what is stale, migrates the local D1 in `persist` and registers the sotu dataset there. */
export async function prepareLocalApp(persist: string) {
  await buildAll();
  const { manifest, manifestSha256 } = await ensureDataset('sotu');
  await migrate(persist);
  await registerDataset(persist, {
    id: manifest.id,
    manifestSha256,
    vocabSize: manifest.vocab.length,
    name: manifest.name,
  });
  return { manifest, manifestSha256 };
}
