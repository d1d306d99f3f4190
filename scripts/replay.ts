// `npm run replay -- <campaignId> [--url http://localhost:8787]`: replays an adaptive campaign's
// decisions from what the edge publishes — its lineages (verified val_bpb, parent links) and the
// ledger's promotion (ASHA) or generation (PBT) entries — with the same pure rule the edge decided
// by (shared/asha.ts, shared/pbt.ts), and
// checks that they match: every decision follows from its recorded inputs, the inputs are verified
// results, every promoted experiment has its decision, and none is missing. Prints JSON; exit code
// 0 all confirmed, 1 a problem found, 2 could not run.
import { parseArgs } from 'node:util';
import { replayProblems, type Promotion, type Strategy } from '../shared/asha.ts';
import { pbtReplayProblems, type PbtDecision } from '../shared/pbt.ts';
import type { LedgerEntry, LedgerPage } from '../shared/ledger.ts';
import { Id, type LineageNode } from '../shared/protocol.ts';
import { shardOfId } from '../shared/shard-ids.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { url: { type: 'string', default: 'http://localhost:8787' } },
});
const campaignId = positionals[0];
if (!campaignId || !Id.safeParse(campaignId).success) {
  console.error('usage: npm run replay -- <campaignId> [--url http://localhost:8787]');
  process.exit(2);
}
const base = values.url.replace(/\/+$/, '');

async function get<T>(path: string): Promise<T> {
  const res = await fetch(base + path);
  if (!res.ok)
    throw new Error(`GET ${path} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return (await res.json()) as T;
}

try {
  const { nodes, strategy } = await get<{ nodes: LineageNode[]; strategy: Strategy | null }>(
    `/api/campaigns/${campaignId}/lineages`,
  );
  if (!strategy || strategy.kind === 'random')
    throw new Error(`${campaignId} is not an adaptive campaign`);
  const ids = new Set(nodes.map((n) => n.id));
  const promotions: { experimentId: string; promotion: Promotion }[] = [];
  const generations: PbtDecision[] = [];
  for (let after = 0; ;) {
    // The campaign's ledger entries are in its shard's chain (shared/shard-ids.ts).
    const page = await get<LedgerPage>(
      `/api/ledger?shard=${shardOfId(campaignId)}&after=${after}&limit=500`,
    );
    for (const row of page.entries) {
      const e = JSON.parse(row.entry) as LedgerEntry;
      if (e.kind === 'promotion' && e.promotion && ids.has(e.experimentId))
        promotions.push({ experimentId: e.experimentId, promotion: e.promotion });
      if (e.kind === 'generation' && e.generation && ids.has(e.experimentId))
        generations.push(e.generation);
    }
    if (page.next === null) break;
    after = page.next;
  }
  const problems =
    strategy.kind === 'asha'
      ? replayProblems(strategy, nodes, promotions)
      : pbtReplayProblems(strategy, campaignId, nodes, generations);
  const decisions = strategy.kind === 'asha' ? promotions.length : generations.length;
  console.log(
    JSON.stringify({
      campaignId,
      strategy,
      experiments: nodes.length,
      decisions,
      confirmed: decisions - new Set(problems.map((p) => p.split(':')[0])).size,
      problems,
    }),
  );
  process.exit(problems.length ? 1 : 0);
} catch (err) {
  console.error(`replay failed: ${(err as Error).message}`);
  process.exit(2);
}
