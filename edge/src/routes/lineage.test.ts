// Lineages on the edge (docs/lineage.md): each segment's replicas upload their final checkpoints,
// one is chosen canonical (and written to the ledger), the next segment continues from it; hostile
// children are refused; a closed tab never stalls a lineage; a researcher's continuation is checked
// against its parent; the storage rule drops what no child needs.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { continuationSpec } from '../../../shared/lineage.ts';
import { signCanonical } from '../../../shared/crypto.ts';
import {
  resultFor,
  type ExperimentDetail,
  type Lease,
  type ResultResponse,
} from '../../../shared/protocol.ts';
import type { ExperimentSpec } from '../../../shared/spec.ts';
import { TAU_BPB } from '../../../shared/verify.ts';
import { expireFinalReveals } from '../lineage/checkpoints.ts';
import { FINAL_REVEAL_MS } from '../trust/policy.ts';
import {
  api,
  honestMetrics,
  insertCampaign,
  json,
  readRefusal,
  RESEARCHER_TOKEN,
  seedResearcher,
  snapshot,
  tinySpec,
} from '../../test/helpers.ts';
import { chainOk, experimentState, ledgerEntries, put, type Peer } from '../../test/trust.ts';
import { run, twoPeers, upload, type Replica } from '../../test/lineage-fixtures.ts';

const ROOT = 'L-0';

/** A lineage campaign: one root of 30 steps, three segments, the schedule over all 90 steps. */
async function seedLineage(id = 'L', owner: string | null = null): Promise<void> {
  const spec = tinySpec(id === 'L' ? 5 : 6);
  await insertCampaign(env.DB, {
    id,
    name: 'Lineage',
    brief: 'A lineage of three segments.',
    template: 'gpt-char',
    datasetId: 'test',
    createdAt: Date.now(),
    specs: [{ ...spec, train: { ...spec.train, scheduleSteps: 90 } }],
    segments: 3,
  });
  if (owner)
    await env.DB.prepare('UPDATE campaigns SET researcher_id = ? WHERE id = ?')
      .bind(owner, id)
      .run();
}

/** Two volunteers (other backends, other addresses) train the campaign's open segment and agree. */
async function verifySegment(
  peers: [Peer, Peer],
  experimentId: string,
  prefix: number[],
  valBpb = 3.0,
  campaignId = 'L',
): Promise<Replica[]> {
  const out: Replica[] = [];
  for (const [i, p] of peers.entries()) {
    const lease = (await p.lease(campaignId))!;
    expect(lease.experimentId).toBe(experimentId);
    const r = await run(lease, prefix, i);
    const res = await p.submit(lease, valBpb + (i * TAU_BPB) / 4, {
      curve: r.curve,
      commitments: r.commitments,
    });
    expect(res.status).toBe(201);
    out.push({ peer: p, lease, ...r, response: (await res.json()) as ResultResponse });
  }
  expect(out[1]!.response.experimentStatus).toBe('verified');
  // Equidistant from the median: the lower result id is preferred.
  return out.sort((x, y) => (x.response.resultId < y.response.resultId ? -1 : 1));
}

async function detail(id: string): Promise<ExperimentDetail> {
  return ((await (await api(`/api/experiments/${id}`)).json()) as { experiment: ExperimentDetail })
    .experiment;
}

async function lineage(id: string) {
  return (await detail(id)).lineage;
}

describe('a lineage campaign', () => {
  it('asks each replica for its final checkpoint, chooses one deterministically, records it and continues from it', async () => {
    await seedLineage();
    const peers = await twoPeers();
    const [first, second] = await verifySegment(peers, ROOT, []);
    expect(first!.response.checkpoint).toEqual({
      step: 30,
      path: `/api/results/${first!.response.resultId}/checkpoint`,
    });
    expect(await peers[0].lease('L')).toBeNull(); // nothing continues before a checkpoint is chosen
    // The second-preferred upload is stored but waits for the preferred one's window.
    expect((await upload(second!)).status).toBe(201);
    expect((await lineage(ROOT)).map((n) => n.id)).toEqual([ROOT]);
    // Someone else's upload, or bytes that are not the committed checkpoint: refused, nothing changes.
    const before = await snapshot();
    const foreign = await put(second!.peer, first!.response.checkpoint!.path, first!.final.bytes);
    expect((await readRefusal(foreign)).error).toBe('foreign_result');
    expect((await readRefusal(await upload(first!, second!.final.bytes))).error).toBe(
      'commitment_mismatch',
    );
    expect(await snapshot()).toEqual(before);
    expect((await upload(first!)).status).toBe(201);
    expect((await upload(first!)).status).toBe(200); // stored once

    const sha = first!.final.commitment;
    expect((await lineage(ROOT)).map((n) => [n.id, n.parentId, n.checkpointSha256])).toEqual([
      [ROOT, null, sha],
      [`${ROOT}-s1`, ROOT, null],
    ]);
    expect((await ledgerEntries()).filter((e) => e.kind === 'checkpoint')).toEqual([
      expect.objectContaining({
        experimentId: ROOT,
        resultId: first!.response.resultId,
        checkpointSha256: sha,
      }),
    ]);
    expect(await chainOk()).toBe(true);
    // The chosen checkpoint is public and immutable; the unchosen upload is deleted.
    const got = await api(`/api/checkpoints/${sha}`);
    expect(got.headers.get('cache-control')).toContain('immutable');
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(first!.final.bytes);
    expect(await env.CHECKPOINTS.head(`checkpoints/${second!.final.commitment}`)).toBeNull();
    expect((await readRefusal(await api(`/api/checkpoints/${'f'.repeat(64)}`))).error).toBe(
      'unknown_checkpoint',
    );
    // Each replica shows the engine its lease reported, and the leaderboard which engines verified it.
    expect((await detail(ROOT)).replicas.map((r) => r.browser).sort()).toEqual([
      'chromium',
      'firefox',
    ]);
    const board = (await (await api('/api/campaigns/L/leaderboard')).json()) as {
      rows: { engines: string[] }[];
    };
    expect(board.rows[0]!.engines.sort()).toEqual(['chromium', 'firefox']);
    // The next segment continues from it with the same recipe, and is leased like any experiment.
    const child = await detail(`${ROOT}-s1`);
    expect(child.spec.parent).toEqual({ experimentId: ROOT, step: 30, checkpointSha256: sha });
    expect(child.spec.train).toEqual((await detail(ROOT)).spec.train);
    const lease = (await peers[0].lease('L'))!;
    expect(lease.spec.parent?.checkpointSha256).toBe(sha);
  });

  it("refuses a lineage's result without commitments, with or without its spec, and writes nothing", async () => {
    await seedLineage();
    const [a] = await twoPeers();
    const lease = (await a.lease('L'))!;
    const metrics = honestMetrics(lease.spec, 3.0, 'wasm');
    expect(metrics.commitments).toBeUndefined();
    const result = resultFor(lease, metrics);
    const signature = await signCanonical(a.keys.privateKey, result);
    for (const spec of [lease.spec, undefined]) {
      const before = await snapshot();
      const res = await a.post(
        '/api/results',
        spec ? { result, signature, spec } : { result, signature },
      );
      expect((await readRefusal(res)).error).toBe('commitment_mismatch');
      expect(await snapshot()).toEqual(before);
    }
  });

  it.each([
    [
      'another checkpoint',
      'parent_mismatch',
      (l: Lease, parent: number[]) =>
        run(
          l,
          parent.map((x) => x + 0.25),
        ),
    ],
    ['scratch', 'commitment_mismatch', (l: Lease) => run(l, [], 0, 0)],
  ])(
    'refuses a child result that claims another parent, and a child checkpoint trained from %s',
    async (_, code, cheat) => {
      await seedLineage();
      const peers = await twoPeers();
      const root = await verifySegment(peers, ROOT, []);
      for (const r of root) await upload(r);
      const parent = root[0]!;
      const leaseA = (await peers[0].lease('L'))!;
      const honest = await run(leaseA, parent.losses);
      const metrics = { curve: honest.curve, commitments: honest.commitments };
      const before = await snapshot();
      for (const claim of [undefined, 'e'.repeat(64)]) {
        const res = await peers[0].submit(leaseA, 2.9, metrics, { parentCheckpointSha256: claim });
        expect((await readRefusal(res)).error).toBe('parent_mismatch');
      }
      expect(await snapshot()).toEqual(before);
      // A trained from another starting point (other losses before step 30, or none: its states
      // start at step 0): its curve alone cannot tell, its checkpoint does. B's honest one is chosen
      // whatever the preference.
      const other = await cheat(leaseA, parent.losses);
      expect(
        (await peers[0].submit(leaseA, 2.9, { curve: other.curve, commitments: other.commitments }))
          .status,
      ).toBe(201);
      const leaseB = (await peers[1].lease('L'))!;
      const b = await run(leaseB, parent.losses, 1);
      const resB = await peers[1].submit(leaseB, 2.9 + TAU_BPB / 4, {
        curve: b.curve,
        commitments: b.commitments,
      });
      const outB = (await resB.json()) as ResultResponse;
      expect(outB.experimentStatus).toBe('verified');
      const resultA = await resultOf(leaseA.leaseId);
      const refused = await put(peers[0], `/api/results/${resultA}/checkpoint`, other.final.bytes);
      expect((await readRefusal(refused)).error).toBe(code);
      expect((await put(peers[1], outB.checkpoint!.path, b.final.bytes)).status).toBe(201);
      expect((await lineage(ROOT)).find((n) => n.id === `${ROOT}-s1`)?.checkpointSha256).toBe(
        b.final.commitment,
      );
    },
  );

  it('never stalls on a closed tab: past its window the preferred replica is passed over, and with none left the experiment gets one more', async () => {
    await seedLineage();
    const [first, second] = await verifySegment(await twoPeers(), ROOT, []);
    expect((await upload(second!)).status).toBe(201);
    expect(await expireFinalReveals(env.DB, env.CHECKPOINTS, Date.now())).toBe(0);
    expect(
      await expireFinalReveals(env.DB, env.CHECKPOINTS, Date.now() + FINAL_REVEAL_MS + 1),
    ).toBe(1);
    expect((await lineage(ROOT))[0]!.checkpointSha256).toBe(second!.final.commitment);
    // Too late now: the preferred one's upload is refused and changes nothing.
    expect((await readRefusal(await upload(first!))).error).toBe('reveal_expired');

    await seedLineage('M');
    await verifySegment(await twoPeers(), 'M-0', [], 3.0, 'M');
    await expireFinalReveals(env.DB, env.CHECKPOINTS, Date.now() + FINAL_REVEAL_MS + 1);
    expect(await experimentState('M-0')).toMatchObject({
      status: 'open',
      replicasNeeded: 3,
      audit: 1,
    });
  });

  it('keeps the frontier and the best checkpoint of a lineage, and drops the rest once no child needs them', async () => {
    await seedLineage();
    const peers = await twoPeers();
    let prefix: number[] = [];
    const shas: string[] = [];
    for (const [depth, id] of [ROOT, `${ROOT}-s1`, `${ROOT}-s2`].entries()) {
      const seg = await verifySegment(peers, id, prefix, 3.0 - 0.2 * depth);
      for (const r of seg) await upload(r);
      prefix = seg[0]!.losses;
      shas.push(seg[0]!.final.commitment);
    }
    const nodes = await lineage(ROOT);
    expect(nodes.map((n) => [n.id, n.depth, n.status, n.checkpointKept])).toEqual([
      [ROOT, 0, 'verified', false],
      [`${ROOT}-s1`, 1, 'verified', false],
      [`${ROOT}-s2`, 2, 'verified', true],
    ]);
    expect(nodes.map((n) => n.startStep)).toEqual([0, 30, 60]);
    expect((await readRefusal(await api(`/api/checkpoints/${shas[0]}`))).error).toBe(
      'checkpoint_dropped',
    );
    expect(await env.CHECKPOINTS.head(`checkpoints/${shas[1]}`)).toBeNull();
    expect((await api(`/api/checkpoints/${shas[2]}`)).status).toBe(200);
    expect(await peers[0].lease('L')).toBeNull(); // three segments: done
    // The corpus carries the parent links and the canonical checkpoints.
    const jsonl = await (await api('/api/corpus?campaign=L&format=jsonl')).text();
    const records = jsonl
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            experimentId: string;
            parentId: string | null;
            checkpointSha256: string;
          },
      );
    expect(records.map((r) => [r.experimentId, r.parentId, r.checkpointSha256])).toEqual([
      [ROOT, null, shas[0]],
      [`${ROOT}-s1`, ROOT, shas[1]],
      [`${ROOT}-s2`, `${ROOT}-s1`, shas[2]],
    ]);
    const csv = (await (await api('/api/corpus?campaign=L&format=csv')).text()).split('\r\n');
    const col = csv[0]!.split(',').indexOf('parent_checkpoint_sha256');
    expect(csv[3]!.split(',')[col]).toBe(shas[1]);
  });
});

describe('POST /api/campaigns/:id/experiments (a researcher continues a verified experiment)', () => {
  const post = (campaignId: string, spec: unknown, token = RESEARCHER_TOKEN) =>
    api(
      `/api/campaigns/${campaignId}/experiments`,
      json({ spec }, { authorization: `Bearer ${token}` }),
    );

  it('adds a child that may change the schedule but not the architecture, and refuses every bad parent with nothing changed', async () => {
    await seedResearcher();
    await seedLineage('L', 'r_test');
    await seedLineage('M', 'r_test');
    const [first, second] = await verifySegment(await twoPeers(), ROOT, []);
    await upload(first!);
    await upload(second!);
    const sha = first!.final.commitment;
    const parent = first!.lease.spec;
    const ok = continuationSpec(parent, ROOT, sha, { lr: 1e-3, minLr: 1e-4, steps: 20 });
    const bad: [string, number, string, unknown, string?][] = [
      ['no parent', 422, 'missing_parent', { ...parent }],
      [
        'an unknown parent',
        404,
        'unknown_parent',
        { ...ok, parent: { ...ok.parent!, experimentId: 'nope' } },
      ],
      ['a parent of another campaign', 422, 'parent_other_campaign', ok, 'M'],
      [
        'an unverified parent',
        409,
        'parent_unverified',
        { ...ok, parent: { ...ok.parent!, experimentId: `${ROOT}-s1` } },
      ],
      [
        'another checkpoint',
        422,
        'parent_checkpoint_mismatch',
        { ...ok, parent: { ...ok.parent!, checkpointSha256: 'b'.repeat(64) } },
      ],
      ['another step', 422, 'continuation_change', { ...ok, parent: { ...ok.parent!, step: 20 } }],
      ['a wider model', 422, 'architecture_change', { ...ok, model: { ...ok.model, nEmbd: 64 } }],
      [
        'another dataset',
        422,
        'parent_dataset',
        { ...ok, dataset: { ...ok.dataset, id: 'other' } },
      ],
      ['another β₁', 422, 'continuation_change', { ...ok, train: { ...ok.train, beta1: 0.5 } }],
    ];
    const before = await snapshot();
    for (const [what, status, code, spec, campaign] of bad) {
      const res = await post(campaign ?? 'L', spec);
      expect([what, res.status, (await readRefusal(res)).error]).toEqual([what, status, code]);
    }
    expect((await post('L', ok, 'x'.repeat(40))).status).toBe(401);
    expect(await snapshot()).toEqual(before);

    const created = await post('L', ok);
    expect(created.status).toBe(201);
    const { experiment } = (await created.json()) as { experiment: { id: string } };
    expect((await post('L', ok)).status).toBe(200); // the same spec: the same child
    const child = await detail(experiment.id);
    expect(child.spec).toEqual(ok as ExperimentSpec);
    expect(child.lineage.map((n) => n.parentId)).toEqual([null, ROOT, ROOT]);
  });
});

async function resultOf(leaseId: string): Promise<string> {
  return (await env.DB.prepare('SELECT id FROM results WHERE lease_id = ?')
    .bind(leaseId)
    .first<{ id: string }>())!.id;
}
