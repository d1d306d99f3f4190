// One experiment in full: its spec, every replica's verdict (and, once the experiment is settled,
// its metrics), the tolerance it was judged by, and the command that retrains it locally
// (scripts/reproduce.ts). An open experiment's metrics stay sealed: a replica that could read them
// could copy them instead of training.
import { Hono } from 'hono';
import {
  Id,
  type ExperimentDetail,
  type Metrics,
  type ReplicaDetail,
  type ResultVerdict,
} from '../../../shared/protocol.ts';
import type { ExperimentSpec } from '../../../shared/spec.ts';
import { TAU_BPB, TAU_CURVE } from '../../../shared/verify.ts';
import type { AppEnv } from '../env.ts';
import { fail } from '../errors.ts';
import { doc } from '../openapi.ts';

/** The experiment's own columns: ExperimentDetail before its spec is parsed and its replicas read. */
type ExperimentRow = Omit<ExperimentDetail, 'spec' | 'replicas' | 'tolerance' | 'reproduce'> & {
  specJson: string;
};

interface ReplicaRow {
  resultId: string;
  volunteerId: string;
  displayName: string | null;
  verdict: ResultVerdict;
  submittedAt: number;
  metricsJson: string | null;
}

export function reproduceCommand(experimentId: string): string {
  return `npm run reproduce -- ${experimentId}`;
}

export const experiments = new Hono<AppEnv>().get(
  '/:id',
  doc({
    summary:
      'One experiment: spec, every replica with backend, curve and verdict, the tolerance, and the command that reproduces it.',
    errors: ['invalid_request', 'unknown_experiment'],
  }),
  async (c) => {
    const id = c.req.param('id');
    if (!Id.safeParse(id).success)
      fail(400, 'invalid_request', 'An experiment id is 1–64 letters, digits, _ or -.');
    const db = c.env.DB;
    const [head, replicas] = await db.batch<Record<string, unknown>>([
      db
        .prepare(
          `SELECT e.id, e.campaign_id AS campaignId, c.name AS campaignName, e.idx, e.status, e.spec_json AS specJson,
        e.spec_hash AS specHash, e.val_bpb AS valBpb, e.verified_at AS verifiedAt, e.flops, e.tokens, e.quorum,
        e.replicas_needed AS replicasNeeded
      FROM experiments e JOIN campaigns c ON c.id = e.campaign_id WHERE e.id = ?`,
        )
        .bind(id),
      db
        .prepare(
          `SELECT r.id AS resultId, r.volunteer_id AS volunteerId, v.display_name AS displayName, r.verdict,
        r.created_at AS submittedAt, CASE WHEN e.status != 'open' THEN r.metrics_json END AS metricsJson
      FROM results r JOIN volunteers v ON v.id = r.volunteer_id JOIN experiments e ON e.id = r.experiment_id
      WHERE r.experiment_id = ? ORDER BY r.created_at, r.id`,
        )
        .bind(id),
    ]);
    const e = head!.results[0] as ExperimentRow | undefined;
    if (!e) fail(404, 'unknown_experiment', `No experiment has the id ${id}.`);
    const { specJson, ...rest } = e;
    const detail: ExperimentDetail = {
      ...rest,
      spec: JSON.parse(specJson) as ExperimentSpec,
      replicas: (replicas!.results as unknown as ReplicaRow[]).map(
        ({ metricsJson, ...r }): ReplicaDetail => ({
          ...r,
          metrics: metricsJson === null ? null : (JSON.parse(metricsJson) as Metrics),
        }),
      ),
      tolerance: { bpb: TAU_BPB, curve: TAU_CURVE },
      reproduce: reproduceCommand(e.id),
    };
    return c.json({ experiment: detail });
  },
);
