// `npm run ledger:verify`: checks the whole trust ledger — consecutive entries from the genesis
// hash, each hash = SHA-256(previous hash ‖ canonical JSON of the entry) — and prints the head.
// Reads a local persist dir through `wrangler d1 execute --local --json` (default), or a running
// edge through GET /api/ledger (--url). Locally, the sealed prefix archived to R2 is fetched segment
// by segment (`wrangler r2 object get --local`), each checked against its recorded SHA-256, seqs and
// boundary hashes before the chain runs on through D1 (edge/src/archive/verify-ledger.ts); through
// the API the edge serves archived pages itself. Against local D1 it also checks that each
// volunteer's credit total equals its credits minus revocations in the ledger.
//
//   npm run ledger:verify -- [--persist .wrangler/state] [--url http://localhost:8787] [--json]
//
// Exit status 0 when the chain holds, 1 when it does not (the first broken entry is named).
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
import { queryLocal } from './lib/local-edge.ts';
import { ROOT, wranglerRun } from './lib/wrangler.ts';

const { values } = parseArgs({
  options: {
    persist: { type: 'string', default: '.wrangler/state' },
    url: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const PAGE = 5_000; // rows per `wrangler d1 execute` (one process each)

const BUCKET = 'tabgrid-checkpoints'; // wrangler.toml's CHECKPOINTS bucket

/** The sealed prefix from local R2, checked, then D1's entries: the whole chain from seq 1. */
async function fromLocal(persist: string): Promise<{ check: ChainCheck; rows: LedgerRow[] }> {
  const records = await queryLocal<LedgerSegmentRecord>(
    persist,
    `SELECT sha256, first_seq AS firstSeq, last_seq AS lastSeq, prev_hash AS prevHash, head_hash AS headHash
     FROM archive_segments WHERE kind = 'ledger' ORDER BY last_seq`,
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
        '--local',
        '--persist-to',
        persist,
        '--file',
        file,
      ]);
      segments.push({ record, bytes: new Uint8Array(readFileSync(file)) });
    }
    const hot = await hotRows(persist, records.at(-1)?.lastSeq ?? 0);
    const { rows, ...check } = await verifyArchivedLedger(segments, hot);
    return { check, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** D1's entries after the sealed prefix. */
async function hotRows(persist: string, sealed: number): Promise<LedgerRow[]> {
  const rows: LedgerRow[] = [];
  for (;;) {
    const after = rows.at(-1)?.seq ?? sealed;
    const page = await queryLocal<LedgerRow>(
      persist,
      `SELECT seq, prev_hash AS prevHash, hash, entry FROM ledger WHERE seq > ${after} ORDER BY seq LIMIT ${PAGE}`,
    );
    rows.push(...page);
    if (page.length < PAGE) return rows;
  }
}

/**
 * Every page from seq 1; `corrupt` names the first page the edge refused because its archive
 * segment no longer hashes to its name (503 archive_corrupt): the ledger is then broken there.
 */
async function fromApi(
  url: string,
): Promise<{ rows: LedgerRow[]; corrupt?: { seq: number; message: string } }> {
  const rows: LedgerRow[] = [];
  let after = 0;
  for (;;) {
    const res = await fetch(`${url.replace(/\/$/, '')}/api/ledger?after=${after}&limit=500`);
    if (res.status === 503) {
      const body = (await res
        .clone()
        .json()
        .catch(() => ({}))) as { error?: string; message?: string };
      if (body.error === 'archive_corrupt')
        return { rows, corrupt: { seq: after + 1, message: body.message ?? 'archive_corrupt' } };
    }
    if (!res.ok) throw new Error(`GET /api/ledger answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as LedgerPage;
    rows.push(...page.entries);
    if (page.next === null) return { rows };
    after = page.next;
  }
}

/** Volunteers whose stored credit total differs from what the ledger grants them. */
async function creditMismatches(
  persist: string,
  rows: LedgerRow[],
): Promise<{ volunteerId: string; stored: number; ledger: number }[]> {
  const ledger = creditTotals(rows.map((r) => JSON.parse(r.entry) as LedgerEntry));
  const stored = await queryLocal<{ id: string; total: number }>(
    persist,
    'SELECT id, credit_total AS total FROM volunteers WHERE credit_total != 0',
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

const source = values.url ? `GET ${values.url}/api/ledger` : `local D1 in ${values.persist}`;
let check: ChainCheck;
let mismatches: Awaited<ReturnType<typeof creditMismatches>> = [];
try {
  const persist = resolve(ROOT, values.persist);
  if (values.url) {
    const { rows, corrupt } = await fromApi(values.url);
    check = await verifyChain(rows);
    if (check.ok && corrupt) check = { ...check, ok: false, problem: corrupt };
  } else {
    const local = await fromLocal(persist);
    check = local.check;
    if (check.ok) mismatches = await creditMismatches(persist, local.rows);
  }
} catch (e) {
  console.error(`ledger:verify could not read the ledger from ${source}: ${(e as Error).message}`);
  process.exit(2);
}

const ok = check.ok && mismatches.length === 0;
if (values.json) {
  console.log(
    JSON.stringify({
      ok,
      source,
      entries: check.entries,
      head: check.head,
      problem: check.problem ?? null,
      creditMismatches: mismatches,
    }),
  );
} else if (!check.ok) {
  console.error(`ledger BROKEN at entry ${check.problem!.seq}: ${check.problem!.message}`);
  console.error(`  the chain holds up to entry ${check.head.seq} (hash ${check.head.hash})`);
} else {
  console.log(`ledger OK: ${check.entries} entries from ${source}`);
  console.log(`  head #${check.head.seq} ${check.head.hash}`);
  for (const m of mismatches)
    console.error(`  credit mismatch for ${m.volunteerId}: stored ${m.stored}, ledger ${m.ledger}`);
}
process.exit(ok ? 0 : 1);
