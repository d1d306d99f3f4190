// What a page says about a campaign's dataset before anything trains: its manifest hash (its
// identity in every spec and corpus record), where its text came from, and how many bytes a
// volunteer downloads before the first step. Read once per dataset and page.
import { datasetDownloadBytes, locateDataset, manifestHash } from '../../../shared/dataset.ts';
import type { DatasetSummary } from '../../../shared/protocol.ts';
import { getJson } from './api.ts';

export interface DatasetInfo {
  id: string;
  manifestSha256: string; // as the edge registered it, and as the manifest served hashes
  downloadBytes: number;
  tokenizer: 'char' | 'byte';
  vocabSize: number;
  source: string;
  license: string;
}

let registered: Promise<DatasetSummary[]> | undefined;
const infos = new Map<string, Promise<DatasetInfo | null>>();

async function load(id: string): Promise<DatasetInfo | null> {
  // Both requests at once: the list of registered datasets and the manifest itself.
  registered ??= getJson<{ datasets: DatasetSummary[] }>('/api/datasets').then((r) => r.datasets);
  const [list, { manifest }] = await Promise.all([
    registered,
    locateDataset(id, (path) => fetch(path)),
  ]);
  const summary = list.find((d) => d.id === id);
  // A manifest that does not hash to the registration is not described (volunteers refuse it too).
  if (!summary || summary.manifestSha256 !== (await manifestHash(manifest))) return null;
  return {
    id,
    manifestSha256: summary.manifestSha256,
    downloadBytes: datasetDownloadBytes(manifest),
    tokenizer: manifest.tokenizer ?? 'char',
    vocabSize: manifest.vocab.length,
    source: manifest.source,
    license: manifest.license,
  };
}

/** The dataset's description, or null when it cannot be read or does not check. */
export function datasetInfo(id: string): Promise<DatasetInfo | null> {
  let p = infos.get(id);
  if (!p) {
    p = load(id).catch(() => null);
    infos.set(id, p);
  }
  return p;
}
