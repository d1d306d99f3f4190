// Strategies on the edge (docs/strategies.md): ASHA promotes the best 1/η of each rung and PBT's
// bottom quantile exploits a better member, each decision continuing from a verified checkpoint
// and written to the ledger with its inputs.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { promotionHolds } from '../../../shared/asha.ts';
import { pbtDecisionHolds } from '../../../shared/pbt.ts';
import { insertCampaign, tinySpec } from '../../test/helpers.ts';
import { runToTheEnd, twoPeers } from '../../test/lineage-fixtures.ts';
import { chainOk, ledgerEntries } from '../../test/trust.ts';

describe('an ASHA campaign (shared/asha.ts)', () => {
  it('promotes the best 1/η of each rung as its results are verified, each promotion continuing from the configuration’s checkpoint, and records every decision with its inputs', async () => {
    const configs = Array.from({ length: 9 }, (_, i) => tinySpec(100 + i));
    await insertCampaign(env.DB, {
      id: 'A',
      name: 'ASHA',
      brief: 'Nine configurations, η = 3.',
      template: 'gpt-char',
      datasetId: 'test',
      createdAt: Date.now(),
      specs: configs.map((s) => ({ ...s, train: { ...s.train, scheduleSteps: 270 } })),
      segments: 3,
      strategy: { kind: 'asha', eta: 3, maxSteps: 270 },
    });
    const peers = await twoPeers();
    // Config i's val_bpb rises with i (A-0 best, and verified first: in the order the queue hands
    // them out), and a promoted one improves by 0.1 a rung. (Verified worst first, asynchronous
    // halving promotes more: each new best is in the top third of what is verified so far.)
    const bpb = (id: string) => {
      const [, i, r] = /^A-(\d+)(?:-r(\d))?$/.exec(id)!;
      return 3.5 + 0.01 * Number(i) - 0.1 * Number(r ?? 0);
    };
    await runToTheEnd(peers, 'A', bpb);
    const rows = (
      await env.DB.prepare(
        "SELECT id, depth, parent_id AS parentId, json_extract(spec_json, '$.train.steps') AS steps FROM experiments WHERE campaign_id = 'A' ORDER BY depth, id",
      ).all<{ id: string; depth: number; parentId: string | null; steps: number }>()
    ).results;
    // Rung 0: 9 configurations of 30 steps; rung 1: the best 3 continued by 60 (to 90); rung 2: the
    // best of those continued by 180 (to 270).
    expect(rows.filter((r) => r.depth === 1).map((r) => [r.id, r.steps])).toEqual([
      ['A-0-r1', 60],
      ['A-1-r1', 60],
      ['A-2-r1', 60],
    ]);
    expect(rows.filter((r) => r.depth === 2).map((r) => [r.id, r.parentId, r.steps])).toEqual([
      ['A-0-r2', 'A-0-r1', 180],
    ]);
    const decisions = (await ledgerEntries()).filter((e) => e.kind === 'promotion');
    expect(decisions.map((d) => d.experimentId).sort()).toEqual([
      'A-0-r1',
      'A-0-r2',
      'A-1-r1',
      'A-2-r1',
    ]);
    for (const d of decisions) expect(promotionHolds(3, d.promotion!)).toBe(true);
    expect(await chainOk()).toBe(true);
  });
});

describe('a PBT campaign (shared/pbt.ts)', () => {
  it('lets a member in the bottom quantile exploit a better member’s checkpoint with a perturbed learning rate, the others continue, and records every decision', async () => {
    await insertCampaign(env.DB, {
      id: 'P',
      name: 'PBT',
      brief: 'Four members, three generations.',
      template: 'gpt-char',
      datasetId: 'test',
      createdAt: Date.now(),
      specs: [0, 1, 2, 3].map((i) => {
        const s = tinySpec(200 + i);
        return { ...s, train: { ...s.train, lr: 1e-3 * (i + 1), scheduleSteps: 90 } };
      }),
      segments: 3,
      strategy: { kind: 'pbt', generations: 3, quantile: 0.25 },
    });
    // Member i's val_bpb rises with i and falls 0.05 a generation.
    const bpb = (id: string) => {
      const [, i, g] = /^P-(\d+)(?:-g(\d))?$/.exec(id)!;
      return 3 + 0.1 * Number(i) - 0.05 * Number(g ?? 0);
    };
    await runToTheEnd(await twoPeers(), 'P', bpb);
    const rows = (
      await env.DB.prepare(
        "SELECT id, depth, parent_id AS parentId, json_extract(spec_json, '$.train.lr') AS lr FROM experiments WHERE campaign_id = 'P' ORDER BY depth, id",
      ).all<{ id: string; depth: number; parentId: string | null; lr: number }>()
    ).results;
    expect(rows.map((r) => r.id)).toEqual([
      'P-0',
      'P-1',
      'P-2',
      'P-3',
      'P-0-g1',
      'P-1-g1',
      'P-2-g1',
      'P-3-g1',
      'P-0-g2',
      'P-1-g2',
      'P-2-g2',
      'P-3-g2',
    ]);
    const decisions = (await ledgerEntries()).filter((e) => e.kind === 'generation');
    expect(decisions).toHaveLength(8); // none after the last generation
    // Generation 0: P-3, the worst of four once all four are in, exploits P-0 (the best quarter).
    const p3 = decisions.find(
      (d) => d.generation!.member === 'P-3' && d.generation!.generation === 0,
    )!;
    expect(p3.generation).toMatchObject({ action: 'exploit', parent: 'P-0' });
    const child = rows.find((r) => r.id === 'P-3-g1')!;
    expect(child.parentId).toBe('P-0');
    expect(child.lr).toBeCloseTo(1e-3 * p3.generation!.lrFactor, 12);
    expect([0.8, 1.25]).toContain(p3.generation!.lrFactor);
    // The members verified before a quarter could be judged continued their own checkpoints.
    for (const m of ['P-0', 'P-1', 'P-2'])
      expect(rows.find((r) => r.id === `${m}-g1`)!.parentId).toBe(m);
    for (const d of decisions)
      expect(
        pbtDecisionHolds(
          { quantile: 0.25 },
          'P',
          d.generation!,
          d.generation!.generation
            ? `${d.generation!.member}-g${d.generation!.generation}`
            : d.generation!.member,
        ),
      ).toBe(true);
    expect(await chainOk()).toBe(true);
  });
});
