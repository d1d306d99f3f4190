// Cold records to R2 in real workerd with D1 and R2: a finished campaign's results and the ledger's
// sealed prefix move into content-addressed segments, the corpus and leaderboard read the same,
// the ledger verifies from seq 1 across segments and D1, a crash between the put and the batch
// loses nothing, a running campaign stays, and an altered segment is named.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../shared/crypto.ts';
import { verifyChain, type LedgerPage, type LedgerRow } from '../../../shared/ledger.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import { verifyNext } from '../../test/campaign-fixtures.ts';
import {
  api,
  expectRefusal,
  honestMetrics,
  newVolunteer,
  seedCampaign,
} from '../../test/helpers.ts';
import { ledgerRows } from '../../test/trust.ts';
import { archiveCampaign, ARCHIVE_GRACE_MS, finishedCampaign } from './campaigns.ts';
import { MAX_SEGMENTS_PER_PAGE } from './corpus-rows.ts';
import { archiveCold } from './index.ts';
import { sealLedger } from './ledger-seal.ts';
import { encodeSegment, segmentKey } from './segment.ts';
import { verifyArchivedLedger, type LedgerSegmentRecord } from './verify-ledger.ts';

const later = () => Date.now() + ARCHIVE_GRACE_MS + 60_000;

/** The test bucket, but the process dies right after a put succeeds (before D1's batch). */
const crashAfterPut = (): R2Bucket =>
  ({
    head: (key: string) => env.CHECKPOINTS.head(key),
    put: async (...args: Parameters<R2Bucket['put']>) => {
      await env.CHECKPOINTS.put(...args);
      throw new Error('crashed after the put');
    },
  }) as unknown as R2Bucket;

/** Distinct checkpoint commitments, one per commit step of the tiny spec (3). */
const commitments = async (tag: string) => Promise.all([1, 2, 3].map((k) => sha256(`${tag}:${k}`)));

/**
 * c1: three verified experiments whose results carry checkpoint commitments (the part of the
 * metrics D1 lets go of), so the export can only match if it reads them back from R2; c2: one
 * verified experiment and one still open (running).
 */
async function history(): Promise<void> {
  await seedCampaign('c1', 3);
  await seedCampaign('c2', 2);
  const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
  for (const bpb of [3.1, 3.0, 3.2]) {
    const [la, lb] = [(await a.lease('webgpu', 'c1'))!, (await b.lease('wasm', 'c1'))!];
    // As verifyNext: agreeing within TAU_BPB but not equal (equal metrics are a copy).
    for (const [v, lease, backend, shift] of [
      [a, la, 'webgpu', 0],
      [b, lb, 'wasm', TAU_BPB / 2],
    ] as const) {
      const metrics = {
        ...honestMetrics(lease.spec, bpb + shift, backend),
        wallMs: 2000 + shift * 1e6,
        commitments: await commitments(lease.leaseId),
      };
      expect((await v.result(lease, metrics)).status).toBe(201);
    }
  }
  await verifyNext(a, b, 2.9, ['webgpu', 'wasm'], 'c2');
}

/** Every page of a GET that pages by its Link header, concatenated. */
async function exportAll(first: string): Promise<string> {
  let body = '';
  let next: string | null = first;
  while (next) {
    const res = await api(next);
    expect(res.status).toBe(200);
    body += await res.text();
    next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
  }
  return body;
}

async function ledgerFromApi(): Promise<LedgerRow[]> {
  const rows: LedgerRow[] = [];
  for (let after = 0; ;) {
    const page = (await (await api(`/api/ledger?after=${after}&limit=2`)).json()) as LedgerPage;
    rows.push(...page.entries);
    if (page.next === null) return rows;
    after = page.next;
  }
}

const views = async () => ({
  jsonl: await exportAll('/api/corpus?format=jsonl&limit=2'),
  csv: await exportAll('/api/corpus?format=csv&limit=2'),
  c1: await exportAll('/api/corpus?campaign=c1&limit=500'),
  board: await (await api('/api/campaigns/c1/leaderboard')).text(),
  // recentAverageCredit decays with the clock; every other figure must be the same.
  standings: (await (await api('/api/leaderboards')).text()).replace(
    /"recentAverageCredit":[^,}]+/g,
    '',
  ),
});

const segments = (kind: string) =>
  env.DB.prepare(
    `SELECT sha256, campaign_id AS campaignId, rows, bytes, first_seq AS firstSeq, last_seq AS lastSeq,
       prev_hash AS prevHash, head_hash AS headHash FROM archive_segments WHERE kind = ? ORDER BY created_at, last_seq`,
  )
    .bind(kind)
    .all<LedgerSegmentRecord & { campaignId: string | null; rows: number; bytes: number }>()
    .then((r) => r.results);

const archivedResults = (campaign: string) =>
  env.DB.prepare(
    `SELECT count(*) AS n FROM results r JOIN experiments e ON e.id = r.experiment_id
     WHERE e.campaign_id = ? AND r.payload_json LIKE 'archive:%' AND r.signature = ''`,
  )
    .bind(campaign)
    .first<{ n: number }>()
    .then((r) => r!.n);

describe('cold records to R2', () => {
  it('archives a finished campaign and the sealed ledger, and every export reads the same', async () => {
    await history();
    const before = await views();
    const chain = await ledgerRows();
    expect(chain.length).toBeGreaterThan(8);
    expect(await finishedCampaign(env.DB, Date.now())).toBeNull(); // within the grace period

    await archiveCold(env.DB, env.CHECKPOINTS, later());

    // c1's six results name their one segment; the segment in R2 hashes to its name.
    const [seg, ...more] = await segments('results');
    expect(more).toEqual([]);
    expect(seg).toMatchObject({ campaignId: 'c1', rows: 6 });
    expect(await archivedResults('c1')).toBe(6);
    expect(await archivedResults('c2')).toBe(0); // running: untouched
    const slim = await env.DB.prepare(
      "SELECT count(*) AS n FROM results WHERE experiment_id LIKE 'c1-%' AND metrics_json NOT LIKE '%commitments%'",
    ).first('n');
    expect(slim).toBe(6); // D1 no longer holds the commitments; the export below still shows them
    expect(before.c1.match(/"commitments"/g)).toHaveLength(6);
    const object = await env.CHECKPOINTS.get(segmentKey(seg!.sha256));
    const bytes = new Uint8Array(await object!.arrayBuffer());
    expect(await sha256(bytes)).toBe(seg!.sha256);
    expect(bytes.byteLength).toBe(seg!.bytes);
    expect(
      await env.DB.prepare("SELECT archived_at FROM campaigns WHERE id = 'c1'").first(
        'archived_at',
      ),
    ).toBeGreaterThan(0);

    // The ledger keeps only its head in D1; the API still serves every entry from seq 1.
    expect((await ledgerRows()).map((r) => r.seq)).toEqual([chain.at(-1)!.seq]);
    // Past the sealed prefix the ledger is append-only as before.
    await expect(env.DB.prepare('DELETE FROM ledger').run()).rejects.toThrow(/append-only/);
    const served = await ledgerFromApi();
    expect(served).toEqual(chain);
    expect(await verifyChain(served)).toMatchObject({ ok: true, entries: chain.length });

    expect(await views()).toEqual(before);
  });

  it('a crash after the R2 put loses nothing, and the re-run finishes with the same segment', async () => {
    await history();
    const before = await views();
    const chain = await ledgerRows();
    const now = later();
    expect(await finishedCampaign(env.DB, now)).toBe('c1');
    await expect(archiveCampaign(env.DB, crashAfterPut(), 'c1', now, 8)).rejects.toThrow('crashed');
    await expect(sealLedger(env.DB, crashAfterPut(), now, 8)).rejects.toThrow('crashed');
    expect(await segments('results')).toEqual([]);
    expect(await segments('ledger')).toEqual([]);
    expect(await archivedResults('c1')).toBe(0);
    expect(await ledgerRows()).toEqual(chain);
    const orphans = (await env.CHECKPOINTS.list({ prefix: 'archive/' })).objects.map((o) => o.key);
    expect(orphans).toHaveLength(2); // one results segment, one ledger segment, recorded nowhere
    expect(await views()).toEqual(before);

    expect(await archiveCampaign(env.DB, env.CHECKPOINTS, 'c1', now, 8)).toBe(true);
    expect(await sealLedger(env.DB, env.CHECKPOINTS, now, 8)).toBe(chain.length - 1);
    const recorded = [...(await segments('results')), ...(await segments('ledger'))];
    expect(recorded.map((s) => segmentKey(s.sha256)).sort()).toEqual(orphans.sort()); // same bytes, same keys
    expect((await env.CHECKPOINTS.list({ prefix: 'archive/' })).objects).toHaveLength(2);
    expect(await env.DB.prepare('SELECT count(*) AS n FROM results').first('n')).toBe(8);
    expect(await archivedResults('c1')).toBe(6);
    expect(await ledgerFromApi()).toEqual(chain);
    // A third run finds it done and changes nothing.
    expect(await archiveCampaign(env.DB, env.CHECKPOINTS, 'c1', now, 8)).toBe(true);
    expect(await sealLedger(env.DB, env.CHECKPOINTS, now, 8)).toBe(0);
    expect(await segments('results')).toHaveLength(1);
    expect(await views()).toEqual(before);
  });

  it('a corpus page reads at most MAX_SEGMENTS_PER_PAGE segments, and the pages still concatenate to the same export', async () => {
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    const ids = Array.from({ length: MAX_SEGMENTS_PER_PAGE + 2 }, (_, i) => `m${i}`);
    for (const id of ids) {
      await seedCampaign(id, 1);
      await verifyNext(a, b, 3, ['webgpu', 'wasm'], id);
    }
    const before = await exportAll('/api/corpus?format=csv&limit=500');
    const first = await api('/api/corpus?format=csv&limit=500');
    expect(first.headers.get('link')).toBeNull(); // one page before archiving
    const now = later();
    for (let c = await finishedCampaign(env.DB, now); c; c = await finishedCampaign(env.DB, now))
      await archiveCampaign(env.DB, env.CHECKPOINTS, c, now, 8);
    expect(await segments('results')).toHaveLength(ids.length); // one segment per campaign

    const page = await api('/api/corpus?format=csv&limit=500');
    expect((await page.text()).trim().split('\r\n')).toHaveLength(1 + MAX_SEGMENTS_PER_PAGE);
    expect(page.headers.get('link')).toMatch(/rel="next"/);
    expect(await exportAll('/api/corpus?format=csv&limit=500')).toBe(before);
  });

  it('never archives a running campaign, nor one settled within the grace period', async () => {
    await seedCampaign('c2', 2);
    const [a, b] = [await newVolunteer('a'), await newVolunteer('b')];
    await verifyNext(a, b, 2.9, ['webgpu', 'wasm'], 'c2');
    expect(await finishedCampaign(env.DB, later())).toBeNull();
    await archiveCold(env.DB, env.CHECKPOINTS, later());
    expect(await segments('results')).toEqual([]);
    expect(await archivedResults('c2')).toBe(0);
  });

  it('an altered ledger segment is refused by the API and named by the verifier', async () => {
    await history();
    const chain = await ledgerRows();
    await archiveCold(env.DB, env.CHECKPOINTS, later());
    const [seg] = await segments('ledger');
    const key = segmentKey(seg!.sha256);
    const original = new Uint8Array(await (await env.CHECKPOINTS.get(key))!.arrayBuffer());
    const hot = await ledgerRows();
    expect(await verifyArchivedLedger([{ record: seg!, bytes: original }], hot)).toMatchObject({
      ok: true,
      entries: chain.length,
    });

    // An entry rewritten (credit doubled) and the segment re-gzipped under its old name.
    const rows = chain
      .slice(0, -1)
      .map((r) => ({ ...r, entry: r.entry.replace('"flops":', '"flops":2') }));
    const forged = await encodeSegment(rows);
    await env.CHECKPOINTS.put(key, forged.bytes);
    await expectRefusal(await api('/api/ledger?after=0'), 503, 'archive_corrupt');
    const check = await verifyArchivedLedger([{ record: seg!, bytes: forged.bytes }], hot);
    expect(check.ok).toBe(false);
    expect(check.problem!.message).toMatch(/altered/);

    // Nor does a forgery stored under its own hash pass: it is not the segment the index names.
    const renamed = { ...seg!, sha256: forged.sha256 };
    const again = await verifyArchivedLedger([{ record: renamed, bytes: forged.bytes }], hot);
    expect(again.ok).toBe(false);
  });
});
