// One experiment as the API shows it: its columns, its spec, and every replica's verdict — with the
// replica's metrics only once the experiment is settled (docs/trust.md, "Sealed until settled").
import type {
  ExperimentDetail,
  LineageNode,
  Metrics,
  ReplicaDetail,
  ResultVerdict,
} from '../../../shared/protocol.ts';
import { Strategy } from '../../../shared/asha.ts';
import type { ExperimentSpec } from '../../../shared/spec.ts';
import { TAU_BPB, TAU_CURVE } from '../../../shared/verify.ts';

/** The experiment's own columns: ExperimentDetail before its spec is parsed and its replicas read. */
type ExperimentRow = Omit<
  ExperimentDetail,
  'spec' | 'replicas' | 'tolerance' | 'reproduce' | 'lineage'
> & {
  specJson: string;
  rootId: string;
};

interface ReplicaRow {
  resultId: string;
  volunteerId: string;
  displayName: string | null;
  verdict: ResultVerdict;
  submittedAt: number;
  browser: string | null;
  metricsJson: string | null;
}

export function reproduceCommand(experimentId: string): string {
  return `npm run reproduce -- ${experimentId}`;
}

/** The experiment in full, or null when no experiment has this id. */
export async function experimentDetail(
  db: D1Database,
  id: string,
): Promise<ExperimentDetail | null> {
  const [head, replicas] = await db.batch<Record<string, unknown>>([
    db
      .prepare(
        `SELECT e.id, e.campaign_id AS campaignId, c.name AS campaignName, e.idx, e.status, e.spec_json AS specJson,
        e.spec_hash AS specHash, e.val_bpb AS valBpb, e.verified_at AS verifiedAt, e.flops, e.tokens, e.quorum,
        e.replicas_needed AS replicasNeeded, COALESCE(e.root_id, e.id) AS rootId
      FROM experiments e JOIN campaigns c ON c.id = e.campaign_id WHERE e.id = ?`,
      )
      .bind(id),
    db
      .prepare(
        `SELECT r.id AS resultId, r.volunteer_id AS volunteerId, v.display_name AS displayName, r.verdict,
        r.created_at AS submittedAt, l.browser, CASE WHEN e.status != 'open' THEN r.metrics_json END AS metricsJson
      FROM results r JOIN volunteers v ON v.id = r.volunteer_id JOIN experiments e ON e.id = r.experiment_id
        JOIN leases l ON l.id = r.lease_id
      WHERE r.experiment_id = ? ORDER BY r.created_at, r.id`,
      )
      .bind(id),
  ]);
  const e = head!.results[0] as ExperimentRow | undefined;
  if (!e) return null;
  const { specJson, rootId, ...rest } = e;
  return {
    ...rest,
    lineage: await lineageOf(db, rootId),
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
}

/** An experiment's campaign and status, or null. */
export function experimentCampaign(
  db: D1Database,
  id: string,
): Promise<{ campaignId: string; status: string } | null> {
  return db
    .prepare('SELECT campaign_id AS campaignId, status FROM experiments WHERE id = ?')
    .bind(id)
    .first<{ campaignId: string; status: string }>();
}

interface NodeRow {
  id: string;
  parentId: string | null;
  depth: number;
  status: LineageNode['status'];
  valBpb: number | null;
  specJson: string;
  checkpointSha256: string | null;
  dropped: number | null;
  curveJson: string | null;
  flops: number;
}

const NODE_COLUMNS = `e.id, e.parent_id AS parentId, e.depth, e.status, e.val_bpb AS valBpb, e.spec_json AS specJson, e.flops,
  e.checkpoint_sha256 AS checkpointSha256, e.checkpoint_dropped_at AS dropped`;

/**
 * A lineage's experiments, root first (by depth, then id), each with the canonical replica's
 * segment curve once verified (the chosen checkpoint's replica, else the first agreeing one).
 */
export async function lineageOf(db: D1Database, rootId: string): Promise<LineageNode[]> {
  const { results } = await db
    .prepare(
      `SELECT ${NODE_COLUMNS},
         CASE WHEN e.status = 'verified' THEN (SELECT json_extract(r.metrics_json, '$.curve') FROM results r
           WHERE r.experiment_id = e.id AND r.verdict = 'valid'
           ORDER BY r.id = e.checkpoint_result_id DESC, r.id LIMIT 1) END AS curveJson
       FROM experiments e WHERE e.id = ?1 OR e.root_id = ?1 ORDER BY e.depth, e.id LIMIT 500`,
    )
    .bind(rootId)
    .all<NodeRow>();
  return results.map(lineageNode);
}

/** Every lineage of a campaign (its experiments and their parent links, without curves), for its DAG. */
export async function campaignLineages(
  db: D1Database,
  campaignId: string,
  limit: number,
): Promise<LineageNode[]> {
  const { results } = await db
    .prepare(
      `SELECT ${NODE_COLUMNS}, NULL AS curveJson FROM experiments e WHERE e.campaign_id = ?
       ORDER BY e.depth, e.id LIMIT ?`,
    )
    .bind(campaignId, limit)
    .all<NodeRow>();
  return results.map(lineageNode);
}

function lineageNode(n: NodeRow): LineageNode {
  const spec = JSON.parse(n.specJson) as ExperimentSpec;
  return {
    id: n.id,
    parentId: n.parentId,
    depth: n.depth,
    status: n.status,
    valBpb: n.valBpb,
    startStep: spec.parent?.step ?? 0,
    steps: spec.train.steps,
    flops: n.flops,
    curve: n.curveJson === null ? null : (JSON.parse(n.curveJson) as number[]),
    curveEvery: spec.train.curveEvery,
    checkpointSha256: n.checkpointSha256,
    checkpointKept: n.checkpointSha256 !== null && n.dropped === null,
  };
}

/** The campaign's strategy (shared/asha.ts), or null for random search. */
export async function campaignStrategy(
  db: D1Database,
  campaignId: string,
): Promise<Strategy | null> {
  return (await campaignShape(db, campaignId)).strategy;
}

/** Whether the campaign makes lineages (segments, or an adaptive strategy), and its strategy. */
export async function campaignShape(
  db: D1Database,
  campaignId: string,
): Promise<{ lineages: boolean; strategy: Strategy | null }> {
  const row = await db
    .prepare('SELECT segments, strategy_json AS json FROM campaigns WHERE id = ?')
    .bind(campaignId)
    .first<{ segments: number; json: string | null }>();
  const strategy = row?.json ? Strategy.parse(JSON.parse(row.json)) : null;
  return { lineages: (row?.segments ?? 1) > 1 || strategy !== null, strategy };
}
