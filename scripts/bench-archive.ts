// `npm run bench:archive`: bytes per verified experiment in D1 before and after the cold records
// move to R2, on a database built through the real schema by bench:edge's preload (finished
// campaigns of 10,000 experiments, two honest replicas each), archived by the edge's own archiver
// (edge/src/archive) over node:sqlite and a directory standing in for R2.
//
//   npm run bench:archive -- [--experiments 20000] [--json]
//
// Sizes: SQLite's dbstat (pages per table, indexes counted with their table) and the file after
// VACUUM INTO (what the same rows take once packed). The last line with --json is one object.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import {
  archiveCampaign,
  ARCHIVE_GRACE_MS,
  finishedCampaign,
} from '../edge/src/archive/campaigns.ts';
import { sealLedger } from '../edge/src/archive/ledger-seal.ts';
import { benchDatasetSha256, benchSpec, log, positiveInt } from './lib/fleet-edge.ts';
import { d1OverSqlite, r2OverDirectory } from './lib/node-bindings.ts';
import { preload } from './lib/preload.ts';
import { ROOT } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    experiments: { type: 'string', default: '20000' },
    json: { type: 'boolean', default: false },
  },
});
const n = positiveInt('experiments', values.experiments);
const TEN_GB = 10e9; // D1's per-database limit (docs/scale.md)

interface Size {
  fileBytes: number; // page_count × page_size
  freeBytes: number; // pages on the freelist
  vacuumedBytes: number; // the file VACUUM INTO writes
  tables: Record<string, number>; // dbstat bytes per table, its indexes included
}

function measure(db: DatabaseSync, dir: string): Size {
  const pragma = (name: string) =>
    Number(Object.values(db.prepare(`PRAGMA ${name}`).get() as object)[0]);
  const rows = db
    .prepare(
      `SELECT coalesce(m.tbl_name, d.name) AS tbl, sum(d.pgsize) AS bytes
       FROM dbstat d LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY tbl ORDER BY bytes DESC`,
    )
    .all() as { tbl: string; bytes: number }[];
  const packed = join(dir, `vacuumed-${Date.now()}.sqlite`);
  db.exec(`VACUUM INTO '${packed}'`);
  const vacuumedBytes = statSync(packed).size;
  rmSync(packed);
  return {
    fileBytes: pragma('page_count') * pragma('page_size'),
    freeBytes: pragma('freelist_count') * pragma('page_size'),
    vacuumedBytes,
    tables: Object.fromEntries(rows.map((r) => [r.tbl, r.bytes])),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-archive-'));
try {
  const file = join(dir, 'd1.sqlite');
  const db = new DatabaseSync(file);
  const migrations = join(ROOT, 'edge', 'migrations');
  for (const f of readdirSync(migrations).sort())
    db.exec(readFileSync(join(migrations, f), 'utf8'));
  const now = Date.now();
  const sha = await benchDatasetSha256();
  let t = performance.now();
  await preload({
    file,
    experiments: n,
    datasetId: 'bench',
    spec: (seed) => benchSpec(seed, 'bench', sha),
    now,
  });
  log(
    `preloaded ${n.toLocaleString('en')} verified experiments in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const before = measure(db, dir);

  // Archive everything past the grace period: a day after the preload's newest verification is.
  const at = now + ARCHIVE_GRACE_MS + 86_400_000;
  const d1 = d1OverSqlite(db);
  const r2 = r2OverDirectory(join(dir, 'r2'));
  t = performance.now();
  for (let c = await finishedCampaign(d1, at); c; c = await finishedCampaign(d1, at))
    await archiveCampaign(d1, r2, c, at, Number.MAX_SAFE_INTEGER);
  const campaignsMs = performance.now() - t;
  t = performance.now();
  let ledgerEntries = 0;
  for (let moved = 1; moved > 0; ledgerEntries += moved) moved = await sealLedger(d1, r2, at, 100);
  const ledgerMs = performance.now() - t;
  const after = measure(db, dir);
  const segments = db
    .prepare('SELECT kind, count(*) AS n, sum(bytes) AS bytes FROM archive_segments GROUP BY kind')
    .all();

  const per = (bytes: number) => Math.round(bytes / n);
  const holds = (bytesPerVerified: number) => Math.floor(TEN_GB / bytesPerVerified);
  const out = {
    experiments: n,
    before: {
      bytesPerVerified: per(before.vacuumedBytes),
      fileBytes: before.fileBytes,
      tables: before.tables,
    },
    after: {
      bytesPerVerified: per(after.vacuumedBytes),
      fileBytes: after.fileBytes,
      freeBytes: after.freeBytes,
      vacuumedBytes: after.vacuumedBytes,
      tables: after.tables,
    },
    r2BytesPerVerified: per(r2.bytes()),
    segments,
    ledgerEntriesArchived: ledgerEntries,
    verifiedPer10GB: {
      before: holds(per(before.vacuumedBytes)),
      after: holds(per(after.vacuumedBytes)),
    },
    archiveMsPer1000: {
      campaigns: Math.round((campaignsMs / n) * 1000),
      ledger: Math.round((ledgerMs / ledgerEntries) * 1000),
    },
    uptime: loadavg().map((x) => Number(x.toFixed(2))),
  };
  const kb = (b: number) => `${(b / 1000).toFixed(2)} kB`;
  log(
    `D1 per verified experiment: ${kb(out.before.bytesPerVerified)} before, ${kb(out.after.bytesPerVerified)} after (packed)`,
  );
  log(
    `  file ${kb(per(before.fileBytes))} → ${kb(per(after.fileBytes))} per verified unpacked, ${kb(per(after.freeBytes))} of it free pages`,
  );
  log(`R2 per verified experiment: ${kb(out.r2BytesPerVerified)}`);
  log(
    `a 10 GB database holds ${out.verifiedPer10GB.before.toLocaleString('en')} verified experiments before, ${out.verifiedPer10GB.after.toLocaleString('en')} after`,
  );
  log(
    `archiving: ${out.archiveMsPer1000.campaigns} ms per 1,000 experiments, ${out.archiveMsPer1000.ledger} ms per 1,000 ledger entries (load ${out.uptime.join(' ')})`,
  );
  if (values.json) console.log(JSON.stringify(out));
  db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
