// The ledger in D1: one continuous chain across verdicts, credits and revocations, exported page by
// page through GET /api/ledger, append-only, and any rewrite detected by the chain check.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { verifyChain, type LedgerPage, type LedgerRow } from '../../shared/ledger.ts';
import { TAU_BPB } from '../../shared/verify.ts';
import { api, seedCampaign } from '../test/helpers.ts';
import { ledgerRows, peer } from '../test/trust.ts';

/** Two experiments: one agreed at once, one after a disagreement and a third replica. */
async function history(): Promise<void> {
  await seedCampaign('c1', 2);
  const [a, b, c] = [
    await peer({ backend: 'webgpu' }),
    await peer({ backend: 'wasm' }),
    await peer({ backend: 'cpu' }),
  ];
  const [la, lb] = [(await a.lease())!, (await b.lease())!];
  await a.submit(la, 3.0);
  await b.submit(lb, 3.0 + TAU_BPB / 4);
  const [lc, la2] = [(await c.lease())!, (await a.lease())!];
  expect(la2.experimentId).toBe(lc.experimentId);
  await c.submit(lc, 3.2);
  await a.submit(la2, 3.2 + 3 * TAU_BPB);
  const lb2 = (await b.lease())!;
  await b.submit(lb2, 3.2 + TAU_BPB / 4);
}

async function exportAll(limit: number): Promise<{ rows: LedgerRow[]; head: LedgerPage['head'] }> {
  const rows: LedgerRow[] = [];
  let after = 0;
  for (;;) {
    const res = await api(`/api/ledger?after=${after}&limit=${limit}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as LedgerPage;
    rows.push(...page.entries);
    if (page.next === null) return { rows, head: page.head };
    after = page.next;
  }
}

describe('the ledger', () => {
  it('is one chain from the genesis hash, and its export pages rebuild it to the same head', async () => {
    await history();
    const rows = await ledgerRows();
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    const kinds = rows.map((r) => (JSON.parse(r.entry) as { kind: string }).kind);
    expect(kinds.filter((k) => k === 'verdict')).toHaveLength(5);
    expect(kinds.filter((k) => k === 'credit')).toHaveLength(4);
    const check = await verifyChain(rows);
    expect(check).toMatchObject({ ok: true, entries: rows.length });
    const exported = await exportAll(3);
    expect(exported.rows).toEqual(rows);
    expect(exported.head).toEqual(check.head);
  });

  it('refuses updates and deletes', async () => {
    await history();
    await expect(
      env.DB.prepare("UPDATE ledger SET entry = '{}' WHERE seq = 1").run(),
    ).rejects.toThrow(/append-only/);
    await expect(env.DB.prepare('DELETE FROM ledger WHERE seq = 1').run()).rejects.toThrow(
      /append-only/,
    );
  });

  it('detects an entry rewritten or removed by someone who dropped the guards', async () => {
    await history();
    await env.DB.batch([
      env.DB.prepare('DROP TRIGGER ledger_no_update'),
      env.DB.prepare('DROP TRIGGER ledger_no_delete'),
    ]);
    const credit = (await ledgerRows()).find((r) => r.entry.includes('"kind":"credit"'))!;
    const inflated = credit.entry.replace(
      /"flops":(\d+)/,
      (_m, f: string) => `"flops":${Number(f) * 10}`,
    );
    await env.DB.prepare('UPDATE ledger SET entry = ? WHERE seq = ?')
      .bind(inflated, credit.seq)
      .run();
    expect((await verifyChain(await ledgerRows())).problem).toEqual({
      seq: credit.seq,
      message: expect.stringMatching(/altered/),
    });
    await env.DB.prepare('UPDATE ledger SET entry = ? WHERE seq = ?')
      .bind(credit.entry, credit.seq)
      .run();
    expect((await verifyChain(await ledgerRows())).ok).toBe(true);
    await env.DB.prepare('DELETE FROM ledger WHERE seq = 3').run();
    expect((await verifyChain(await ledgerRows())).problem).toEqual({
      seq: 4,
      message: expect.stringMatching(/missing/),
    });
  });

  it('refuses malformed paging parameters', async () => {
    for (const q of ['after=-1', 'after=x', 'limit=501', 'limit=1e3']) {
      const res = await api(`/api/ledger?${q}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    }
    expect(await (await api('/api/ledger')).json()).toEqual({
      entries: [],
      head: { seq: 0, hash: '0'.repeat(64) },
      next: null,
    });
  });
});
