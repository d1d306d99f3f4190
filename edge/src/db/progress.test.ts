// The progress counts kept by migration 0019's triggers against a full recount of the campaign's
// experiments, results and leases (the query progress.ts ran on every read until then), after a
// real loop: agreeing and disagreeing replicas, a dispute, more replicas asked, a reopened
// experiment, a result removed.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { TAU_BPB } from '../../../shared/verify.ts';
import { seedCampaign } from '../../test/helpers.ts';
import { peer } from '../../test/trust.ts';
import { campaignProgress } from './progress.ts';

const RECOUNT_SQL = `
SELECT count(*) AS experiments,
  coalesce(sum(status = 'open' AND results = 0 AND running = 0), 0) AS queued,
  coalesce(sum(status = 'open' AND results = 0 AND running > 0), 0) AS running,
  coalesce(sum(status = 'open' AND results > 0), 0) AS awaitingReplica,
  coalesce(sum(status = 'verified'), 0) AS verified,
  coalesce(sum(status = 'disputed'), 0) AS disputed,
  coalesce(sum(CASE WHEN status = 'open' THEN tokens * MAX(0, replicas_needed - results) ELSE 0 END), 0) AS remainingTokens
FROM (
  SELECT e.status, e.tokens, e.replicas_needed,
    (SELECT count(*) FROM results r WHERE r.experiment_id = e.id) AS results,
    (SELECT count(*) FROM leases l WHERE l.experiment_id = e.id AND l.status = 'open' AND l.deadline > ?2) AS running
  FROM experiments e WHERE e.campaign_id = ?1
)`;

async function expectCountsAgree(campaignId: string): Promise<void> {
  const now = Date.now();
  const recount = await env.DB.prepare(RECOUNT_SQL).bind(campaignId, now).first();
  const {
    fleet: _,
    etaSeconds: __,
    updatedAt: ___,
    ...kept
  } = await campaignProgress(env.DB, campaignId, now);
  expect(kept).toEqual(recount);
}

describe('campaign progress counts', () => {
  it('agree with a full recount through leases, verdicts, disputes and reopenings', async () => {
    await seedCampaign('c1', 6);
    await seedCampaign('c2', 2); // another campaign's writes must not move c1's counts
    await expectCountsAgree('c1');
    const [a, b, c] = [
      await peer({ backend: 'webgpu' }),
      await peer({ backend: 'wasm' }),
      await peer({ backend: 'cpu' }),
    ];
    const [la, lb] = [(await a.lease('c1'))!, (await b.lease('c1'))!];
    await expectCountsAgree('c1'); // one experiment running (or two)
    await a.submit(la, 3.0);
    await expectCountsAgree('c1'); // awaiting a replica
    await b.submit(lb, 3.0 + TAU_BPB / 4);
    await expectCountsAgree('c1'); // verified
    const [lc, la2] = [(await c.lease('c1'))!, (await a.lease('c1'))!];
    await c.submit(lc, 3.2);
    await a.submit(la2, 3.2 + 3 * TAU_BPB); // disagree: a third replica is asked
    await expectCountsAgree('c1');
    const lb2 = (await b.lease('c1'))!;
    await b.submit(lb2, 3.2 + 5 * TAU_BPB);
    await expectCountsAgree('c1');
    await (await a.lease('c2'))!;
    await expectCountsAgree('c1');
    await expectCountsAgree('c2');
    // Writes outside the loop: a verified experiment reopened with one replica more, an open one
    // disputed, a result removed, and every lease expired.
    await env.DB.batch([
      env.DB.prepare(
        "UPDATE experiments SET status = 'open', replicas_needed = replicas_needed + 1 WHERE campaign_id = 'c1' AND status = 'verified'",
      ),
      env.DB.prepare(
        "UPDATE experiments SET status = 'disputed' WHERE id = (SELECT id FROM experiments WHERE campaign_id = 'c1' AND status = 'open' ORDER BY idx DESC LIMIT 1)",
      ),
      env.DB.prepare('UPDATE leases SET deadline = 1'),
    ]);
    await expectCountsAgree('c1');
    // Every result of an open experiment, as the archive of a finished campaign would remove them.
    const { id } = (await env.DB.prepare(
      "SELECT experiment_id AS id FROM results WHERE experiment_id IN (SELECT id FROM experiments WHERE campaign_id = 'c1' AND status = 'open') LIMIT 1",
    ).first<{ id: string }>())!;
    await env.DB.prepare('DELETE FROM results WHERE experiment_id = ?').bind(id).run();
    expect(
      (await env.DB.prepare('SELECT count(*) AS n FROM results WHERE experiment_id = ?')
        .bind(id)
        .first<{ n: number }>())!.n,
    ).toBe(0);
    await expectCountsAgree('c1');
    const { n } = (await env.DB.prepare(
      "SELECT count(*) AS n FROM experiments WHERE campaign_id = 'c1' AND status = 'verified'",
    ).first<{ n: number }>())!;
    expect(n).toBe(0);
    const progress = await campaignProgress(env.DB, 'c1', Date.now());
    expect(progress.experiments).toBe(6);
    expect(progress.awaitingReplica).toBeGreaterThan(0);
    expect(progress.disputed).toBeGreaterThan(0);
    expect(progress.running).toBe(0);
  });

  it('reads zeros for a campaign without experiments', async () => {
    await expectCountsAgree('nobody');
  });
});
