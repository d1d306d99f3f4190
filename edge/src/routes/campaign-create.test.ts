import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ApiError, Campaign } from '../../../shared/protocol.ts';
import { ExperimentSpec } from '../../../shared/spec.ts';
import { WANDB_SWEEP, WIDTH_SWEEP } from '../../test/campaign-fixtures.ts';
import { api, json, RESEARCHER_TOKEN, seedResearcher, snapshot } from '../../test/helpers.ts';

const brief = WIDTH_SWEEP;
/** A search space of fixed values. */
const fixed = (values: Record<string, number>) =>
  Object.fromEntries(Object.entries(values).map(([k, value]) => [k, { kind: 'fixed', value }]));
const auth = { authorization: `Bearer ${RESEARCHER_TOKEN}` };

describe('POST /api/campaigns', () => {
  it('creates a campaign of seeded experiments for an authenticated researcher', async () => {
    await seedResearcher();
    const res = await api('/api/campaigns', json(brief, auth));
    expect(res.status).toBe(201);
    const { campaign } = (await res.json()) as { campaign: Campaign };
    expect(campaign).toMatchObject({
      name: 'Width sweep',
      experiments: 6,
      verified: 0,
      datasetId: 'test',
    });
    const { results } = await env.DB.prepare(
      'SELECT spec_json AS s FROM experiments WHERE campaign_id = ? ORDER BY idx',
    )
      .bind(campaign.id)
      .all<{ s: string }>();
    const specs = results.map((r) => ExperimentSpec.parse(JSON.parse(r.s)));
    expect(new Set(specs.map((s) => s.train.lr)).size).toBe(6);
    for (const s of specs) {
      expect(s.train.lr).toBeGreaterThanOrEqual(3e-4);
      expect(s.train.lr).toBeLessThanOrEqual(3e-3);
      expect([32, 64]).toContain(s.model.nEmbd);
      expect(s.train.steps).toBe(200);
      expect(s.dataset.sha256).toBe('a'.repeat(64));
    }
    // Same brief and seed → the same experiments.
    const again = (await (await api('/api/campaigns', json(brief, auth))).json()) as {
      campaign: Campaign;
    };
    const second = await env.DB.prepare(
      'SELECT spec_json AS s FROM experiments WHERE campaign_id = ? ORDER BY idx',
    )
      .bind(again.campaign.id)
      .all<{ s: string }>();
    expect(second.results.map((r) => r.s)).toEqual(results.map((r) => r.s));
  });

  it('creates an ASHA campaign from a Weights & Biases sweep with hyperband', async () => {
    await seedResearcher();
    const res = await api('/api/campaigns', json(WANDB_SWEEP, auth));
    expect(res.status).toBe(201);
    const { campaign } = (await res.json()) as { campaign: Campaign };
    expect(campaign).toMatchObject({ name: 'Learning rate and width', experiments: 9 });
    const { results } = await env.DB.prepare(
      'SELECT spec_json AS s FROM experiments WHERE campaign_id = ? ORDER BY idx',
    )
      .bind(campaign.id)
      .all<{ s: string }>();
    const specs = results.map((r) => ExperimentSpec.parse(JSON.parse(r.s)));
    expect(specs).toHaveLength(9); // rung 0: min_iter steps each, the schedule spanning max_iter
    for (const s of specs) {
      expect(s.train).toMatchObject({ steps: 30, scheduleSteps: 270 });
      expect(s.train.lr).toBeGreaterThanOrEqual(3e-4);
      expect(s.train.lr).toBeLessThanOrEqual(3e-3);
      expect([32, 64]).toContain(s.model.nEmbd);
      expect(s.model.nLayer).toBe(1);
    }
  });

  const refusals: [string, RequestInit, number, string, string?][] = [
    [
      'a W&B sweep with a grid',
      json({ ...WANDB_SWEEP, method: 'grid' }, auth),
      400,
      'invalid_request',
      'method',
    ],
    [
      'a W&B distribution that cannot be mapped',
      json(
        { ...WANDB_SWEEP, parameters: { lr: { distribution: 'normal', mu: 0, sigma: 1 } } },
        auth,
      ),
      400,
      'invalid_request',
      'parameters.lr.distribution',
    ],
    [
      'a W&B metric other than val_bpb',
      json({ ...WANDB_SWEEP, metric: { name: 'accuracy', goal: 'maximize' } }, auth),
      400,
      'invalid_request',
      'metric.name',
    ],
    ['no token', json(brief), 401, 'missing_token'],
    [
      'a wrong token',
      json(brief, { authorization: 'Bearer not-the-researcher-token-000' }),
      401,
      'bad_token',
    ],
    ['a brief without a name', json({ ...brief, name: '' }, auth), 400, 'invalid_request', 'name'],
    [
      'an unknown hyperparameter',
      json({ ...brief, searchSpace: { momentum: { kind: 'fixed', value: 1 } } }, auth),
      400,
      'invalid_request',
    ],
    [
      'an inverted range',
      json({ ...brief, searchSpace: { lr: { kind: 'log-uniform', min: 1e-2, max: 1e-3 } } }, auth),
      400,
      'invalid_request',
    ],
    [
      'an unknown dataset',
      json({ ...brief, datasetId: 'nope' }, auth),
      422,
      'unknown_dataset',
      'datasetId',
    ],
    [
      'models too large for a laptop',
      json(
        {
          ...brief,
          searchSpace: {
            nEmbd: { kind: 'choice', values: [768] },
            ...fixed({ nLayer: 12, nHead: 12 }),
          },
        },
        auth,
      ),
      422,
      'not_admitted',
      'searchSpace.nEmbd',
    ],
    [
      'too many steps for five minutes',
      json(
        {
          ...brief,
          steps: 20000,
          searchSpace: fixed({ nEmbd: 256, nLayer: 4, nHead: 4, blockSize: 256, batchSize: 32 }),
        },
        auth,
      ),
      422,
      'not_admitted',
      'steps',
    ],
    [
      'heads that do not divide the width',
      json(
        {
          ...brief,
          searchSpace: fixed({ nEmbd: 30, nHead: 4 }),
        },
        auth,
      ),
      422,
      'not_admitted',
      'searchSpace.nEmbd',
    ],
  ];

  it.each(refusals)('refuses %s and changes nothing', async (_name, init, status, code, field) => {
    await seedResearcher();
    const before = await snapshot();
    const res = await api('/api/campaigns', init);
    expect(res.status).toBe(status);
    const body = (await res.json()) as ApiError;
    expect(body.error).toBe(code);
    expect(body.message).toMatch(/\w+ \w+/);
    if (field) expect(body.issues?.map((i) => i.path)).toContain(field);
    expect(await snapshot()).toEqual(before);
  });
});
