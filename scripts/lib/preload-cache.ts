// bench:edge --preload's database: N verified experiments written through the real schema
// (preload.ts), built once per (N, migrations) into node_modules/.cache/tabgrid-bench, then copied
// for each run (the run writes to its copy), flushed and read through before the run starts.
import { createHash } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { benchDatasetSha256, benchSpec, d1File, log, secondsSince } from './fleet-edge.ts';
import { migrate } from './local-edge.ts';
import { preload } from './preload.ts';
import { ROOT } from './wrangler.ts';

/**
 * A `database` for seedBenchState holding `n` preloaded verified experiments: migrated and filled
 * once per (n, migrations) into the cache, then copied (the run writes to its copy).
 */
export function preloadedDatabase(n: number, campaign: string): (persist: string) => Promise<void> {
  return async (persist: string) => {
    const migrations = join(ROOT, 'edge', 'migrations');
    const schema = createHash('sha256');
    for (const f of readdirSync(migrations).sort())
      schema.update(readFileSync(join(migrations, f)));
    const cache = join(
      ROOT,
      'node_modules',
      '.cache',
      'tabgrid-bench',
      `preload-${n}-${schema.digest('hex').slice(0, 12)}`,
    );
    if (!existsSync(join(cache, 'done'))) {
      rmSync(cache, { recursive: true, force: true });
      mkdirSync(cache, { recursive: true });
      await migrate(cache);
      const t = performance.now();
      const datasetSha256 = await benchDatasetSha256();
      const rows = await preload({
        file: d1File(cache),
        experiments: n,
        datasetId: campaign,
        spec: (seed) => benchSpec(seed, campaign, datasetSha256),
        now: Date.now(),
        onProgress: (done) => {
          if (done % 100_000 === 0 || done === n)
            log(`  preloaded ${done.toLocaleString('en')} experiments (${secondsSince(t)} s)`);
        },
      });
      log(
        `  preload: ${JSON.stringify(rows)} in ${secondsSince(t)} s, ${(statSync(d1File(cache)).size / 1e9).toFixed(2)} GB`,
      );
      writeFileSync(join(cache, 'done'), JSON.stringify(rows));
    }
    let t = performance.now();
    cpSync(cache, persist, { recursive: true });
    log(`  copied the preloaded database in ${secondsSince(t)} s`);
    // A database that has been serving for a while is neither being written back by the OS nor cold:
    // the copy is flushed and read through once, as the empty database (a few MB) always is, so the
    // two runs differ by the data, not by an 8 GB copy still in flight (docs/scale.md).
    t = performance.now();
    warm(d1File(persist));
    log(`  flushed and read the copy through in ${secondsSince(t)} s`);
  };
}

/** Flushes `file` to disk and reads it once, so the run starts with it in the page cache. */
function warm(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
    const buf = Buffer.allocUnsafe(16 << 20);
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}
