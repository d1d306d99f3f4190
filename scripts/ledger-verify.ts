// `npm run ledger:verify`: checks the whole trust ledger of every D1 shard — each shard chains its
// own campaigns (edge/src/shards.ts): consecutive entries from the genesis hash, each hash =
// SHA-256(previous hash ‖ canonical JSON of the entry) — and prints each shard's head.
// Reads a local persist dir through `wrangler d1 execute <binding> --local --json` for each shard
// binding of the wrangler config (default), or a running edge through GET /api/ledger?shard=k for
// k = 0, 1, … until it answers 404 unknown_shard (--url). Locally, a shard's sealed prefix archived
// to R2 is fetched segment by segment (`wrangler r2 object get --local`), each checked against its
// recorded SHA-256, seqs and boundary hashes before the chain runs on through D1
// (edge/src/archive/verify-ledger.ts); through the API the edge serves archived pages itself.
// Against local D1 it also checks that each volunteer's credit total in a shard equals its credits
// minus revocations in that shard's ledger (a shard's volunteer rows hold that shard's credits only).
//
//   npm run ledger:verify -- [--persist .wrangler/state] [--config wrangler.toml]
//                            [--url http://localhost:8787] [--json]
//
// One line per shard. With --json one object: {ok, source, shards: [{shard, ok, entries, head,
// problem, creditMismatches}]}, shard 0 first. Exit status 0 when every shard's chain holds, 1 when
// one does not (its first broken entry is named), 2 when the ledger could not be read.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  creditTotals,
  verifyChain,
  type ChainCheck,
  type LedgerEntry,
  type LedgerPage,
  type LedgerRow,
} from '../shared/ledger.ts';
import { segmentKey } from '../edge/src/archive/segment.ts';
import {
  verifyArchivedLedger,
  type LedgerSegmentRecord,
} from '../edge/src/archive/verify-ledger.ts';
import { d1Shards, WRANGLER_TOML } from './lib/d1-shards.ts';
import { queryLocal } from './lib/local-edge.ts';
import { localState, ROOT, wranglerRun, type D1Shard } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    persist: { type: 'string', default: '.wrangler/state' },
    config: { type: 'string', default: WRANGLER_TOML }, // whose D1 shard bindings are read locally
    url: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const PAGE = 5_000; // rows per `wrangler d1 execute` (one process each)

const BUCKET = 'tabgrid-checkpoints'; // wrangler.toml's CHECKPOINTS bucket

/** Shard ids run to 999 (edge/src/shards.ts tags ids with at most three digits). */
const MAX_SHARDS = 1000;

/** A shard's sealed prefix from local R2, checked, then its D1 entries: its whole chain from seq 1. */
async function fromLocal(
  persist: string,
  shard: D1Shard,
): Promise<{ check: ChainCheck; rows: LedgerRow[] }> {
  const records = await queryLocal<LedgerSegmentRecord>(
    persist,
    `SELECT sha256, first_seq AS firstSeq, last_seq AS lastSeq, prev_hash AS prevHash, head_hash AS headHash
     FROM archive_segments WHERE kind = 'ledger' ORDER BY last_seq`,
    shard,
  );
  const dir = mkdtempSync(join(tmpdir(), 'ledger-verify-'));
  try {
    const segments = [];
    for (const record of records) {
      const file = join(dir, record.sha256);
      const key = `${BUCKET}/${segmentKey(record.sha256)}`;
      await wranglerRun([
        'r2',
        'object',
        'get',
        key,
        ...localState(persist, shard.config),
        '--file',
        file,
      ]);
      segments.push({ record, bytes: new Uint8Array(readFileSync(file)) });
    }
    const hot = await hotRows(persist, shard, records.at(-1)?.lastSeq ?? 0);
    const { rows, ...check } = await verifyArchivedLedger(segments, hot);
    return { check, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A shard's D1 entries after its sealed prefix. */
async function hotRows(persist: string, shard: D1Shard, sealed: number): Promise<LedgerRow[]> {
  const rows: LedgerRow[] = [];
  for (;;) {
    const after = rows.at(-1)?.seq ?? sealed;
    const page = await queryLocal<LedgerRow>(
      persist,
      `SELECT seq, prev_hash AS prevHash, hash, entry FROM ledger WHERE seq > ${after} ORDER BY seq LIMIT ${PAGE}`,
      shard,
    );
    rows.push(...page);
    if (page.length < PAGE) return rows;
  }
}

/**
 * Every page of shard `shard` from seq 1, or null when the edge has no such shard (404
 * unknown_shard on the first page); `corrupt` names the first page the edge refused because its
 * archive segment no longer hashes to its name (503 archive_corrupt): the ledger is broken there.
 */
async function fromApi(
  url: string,
  shard: number,
): Promise<{ rows: LedgerRow[]; corrupt?: { seq: number; message: string } } | null> {
  const rows: LedgerRow[] = [];
  let after = 0;
  for (;;) {
    const res = await fetch(
      `${url.replace(/\/$/, '')}/api/ledger?shard=${shard}&after=${after}&limit=500`,
    );
    if (res.status === 503 || (res.status === 404 && after === 0)) {
      const body = (await res
        .clone()
        .json()
        .catch(() => ({}))) as { error?: string; message?: string };
      if (body.error === 'archive_corrupt')
        return { rows, corrupt: { seq: after + 1, message: body.message ?? 'archive_corrupt' } };
      if (body.error === 'unknown_shard') return null;
    }
    if (!res.ok) throw new Error(`GET /api/ledger answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as LedgerPage;
    rows.push(...page.entries);
    if (page.next === null) return { rows };
    after = page.next;
  }
}

/** Volunteers whose credit total stored in `shard` differs from what its ledger (`rows`) grants them. */
async function creditMismatches(
  persist: string,
  shard: D1Shard,
  rows: LedgerRow[],
): Promise<{ volunteerId: string; stored: number; ledger: number }[]> {
  const ledger = creditTotals(rows.map((r) => JSON.parse(r.entry) as LedgerEntry));
  const stored = await queryLocal<{ id: string; total: number }>(
    persist,
    'SELECT id, credit_total AS total FROM volunteers WHERE credit_total != 0',
    shard,
  );
  const ids = new Set([...ledger.keys(), ...stored.map((s) => s.id)]);
  const byId = new Map(stored.map((s) => [s.id, s.total]));
  const out = [];
  for (const id of ids) {
    const a = byId.get(id) ?? 0;
    const b = ledger.get(id) ?? 0;
    if (Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(b)))
      out.push({ volunteerId: id, stored: a, ledger: b });
  }
  return out;
}

interface ShardResult {
  shard: number;
  binding: string | null; // null through the API, which numbers shards only
  check: ChainCheck;
  mismatches: Awaited<ReturnType<typeof creditMismatches>>;
}

/** Every shard's chain through GET /api/ledger?shard=k, from shard 0 until the edge has no more. */
async function verifyApi(url: string): Promise<ShardResult[]> {
  const out: ShardResult[] = [];
  for (let k = 0; k < MAX_SHARDS; k++) {
    const page = await fromApi(url, k);
    if (!page) {
      if (k === 0) throw new Error('the edge answered 404 unknown_shard for shard 0');
      return out;
    }
    let check = await verifyChain(page.rows);
    if (check.ok && page.corrupt) check = { ...check, ok: false, problem: page.corrupt };
    out.push({ shard: k, binding: null, check, mismatches: [] });
  }
  throw new Error(`the edge served more than ${MAX_SHARDS} shards`);
}

/** Every shard's chain and credit totals in the local state in `persist`. */
async function verifyLocal(persist: string, config: string): Promise<ShardResult[]> {
  const out: ShardResult[] = [];
  for (const [k, shard] of (await d1Shards(config)).entries()) {
    const { check, rows } = await fromLocal(persist, shard);
    const mismatches = check.ok ? await creditMismatches(persist, shard, rows) : [];
    out.push({ shard: k, binding: shard.binding, check, mismatches });
  }
  return out;
}

const source = values.url ? `GET ${values.url}/api/ledger` : `local D1 in ${values.persist}`;
let results: ShardResult[];
try {
  results = values.url
    ? await verifyApi(values.url)
    : await verifyLocal(resolve(ROOT, values.persist), resolve(ROOT, values.config));
} catch (e) {
  console.error(`ledger:verify could not read the ledger from ${source}: ${(e as Error).message}`);
  process.exit(2);
}

const okOf = (r: ShardResult) => r.check.ok && r.mismatches.length === 0;
const ok = results.every(okOf);
if (values.json) {
  console.log(
    JSON.stringify({
      ok,
      source,
      shards: results.map((r) => ({
        shard: r.shard,
        ok: okOf(r),
        entries: r.check.entries,
        head: r.check.head,
        problem: r.check.problem ?? null,
        creditMismatches: r.mismatches,
      })),
    }),
  );
} else {
  const broken = results.filter((r) => !okOf(r)).map((r) => r.shard);
  const shards = `${results.length} shard${results.length === 1 ? '' : 's'}`;
  (ok ? console.log : console.error)(
    ok
      ? `ledger OK: ${shards} from ${source}`
      : `ledger FAILED in shard ${broken.join(', ')} of ${shards} from ${source}`,
  );
  for (const r of results) {
    const name = `shard ${r.shard}${r.binding ? ` (${r.binding})` : ''}`;
    const { check } = r;
    if (!check.ok)
      console.error(
        `  ${name}: BROKEN at entry ${check.problem!.seq}: ${check.problem!.message}; the chain holds up to entry ${check.head.seq} (hash ${check.head.hash})`,
      );
    else
      (okOf(r) ? console.log : console.error)(
        `  ${name}: ${check.entries} entries, head #${check.head.seq} ${check.head.hash}` +
          (r.mismatches.length
            ? `, credit totals differ from the ledger for ${r.mismatches.length} volunteer(s)`
            : ''),
      );
    for (const m of r.mismatches)
      console.error(
        `    credit mismatch for ${m.volunteerId}: stored ${m.stored}, ledger ${m.ledger}`,
      );
  }
}
process.exit(ok ? 0 : 1);
