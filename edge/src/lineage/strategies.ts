// The strategies' decisions on the edge (docs/strategies.md): when an experiment's canonical
// checkpoint is chosen (checkpoints.ts settleCheckpoint), ASHA's promotions or PBT's next generation,
// each a child experiment written with its ledger entry in the same batch. The rules are pure and
// shared (shared/asha.ts, shared/pbt.ts), so `npm run replay` takes the same decisions.
import { ashaPromotions, rungSteps, type AshaStrategy } from '../../../shared/asha.ts';
import { continuationSpec } from '../../../shared/lineage.ts';
import { pbtChildSpec, pbtDecision, type PbtStrategy } from '../../../shared/pbt.ts';
import { ExperimentSpec } from '../../../shared/spec.ts';
import type { NewEntry } from '../ledger.ts';
import { childStatement } from './children.ts';

interface RungRow {
  id: string;
  config: string;
  rung: number;
  valBpb: number;
  specJson: string;
  checkpointSha256: string | null;
  promoted: number;
}

/**
 * ASHA's decisions now (shared/asha.ts), from the campaign's verified experiments: each promotion
 * a child that continues its configuration from its canonical checkpoint to the next rung, and a
 * ledger entry with the rung's results it was decided on. `settled` is the experiment whose
 * checkpoint this same batch chooses. Decisions are serialised by the ledger: a concurrent one
 * moves the head, this batch fails and is planned again from fresh state (ledger.ts).
 */
export async function ashaStatements(
  db: D1Database,
  campaignId: string,
  strategy: AshaStrategy,
  settled: { id: string; checkpointSha256: string },
): Promise<{ statements: D1PreparedStatement[]; entries: NewEntry[] }> {
  const { results } = await db
    .prepare(
      `SELECT e.id, COALESCE(e.root_id, e.id) AS config, e.depth AS rung, e.val_bpb AS valBpb, e.spec_json AS specJson,
         e.checkpoint_sha256 AS checkpointSha256,
         EXISTS (SELECT 1 FROM experiments c WHERE c.parent_id = e.id) AS promoted
       FROM experiments e WHERE e.campaign_id = ? AND e.status = 'verified'`,
    )
    .bind(campaignId)
    .all<RungRow>();
  const rows = new Map(results.map((r) => [r.id, r]));
  // Rung 0 is every root's own length (the brief's steps); an experiment's rung is its depth.
  const first = results.find((r) => r.rung === 0);
  if (!first) return { statements: [], entries: [] };
  const steps = rungSteps(ExperimentSpec.parse(JSON.parse(first.specJson)).train.steps, strategy);
  const promoted = new Set(results.filter((r) => r.promoted).map((r) => r.id));
  const decisions = ashaPromotions(
    strategy.eta,
    steps.length,
    results.map((r) => ({ config: r.config, rung: r.rung, experimentId: r.id, valBpb: r.valBpb })),
    promoted,
  );
  const statements: D1PreparedStatement[] = [];
  const entries: NewEntry[] = [];
  for (const p of decisions) {
    const parent = rows.get(p.parent)!;
    const sha = p.parent === settled.id ? settled.checkpointSha256 : parent.checkpointSha256;
    if (!sha) continue; // promoted once its own checkpoint is chosen
    const spec = continuationSpec(
      ExperimentSpec.parse(JSON.parse(parent.specJson)),
      p.parent,
      sha,
      {
        steps: steps[p.fromRung + 1]! - steps[p.fromRung]!,
      },
    );
    const childId = `${p.config}-r${p.fromRung + 1}`;
    statements.push(await childStatement(db, p.parent, childId, spec));
    entries.push({
      key: `promotion:${p.parent}`,
      kind: 'promotion',
      experimentId: childId,
      resultId: null,
      volunteerId: null,
      promotion: p,
    });
  }
  return { statements, entries };
}

/** A PBT member's id: its generation-0 experiment (`<member>-g<k>` for the later ones). */
export const memberOf = (experimentId: string) => experimentId.replace(/-g\d+$/, '');

/**
 * PBT's decision for the member whose generation `generation` is `settled` (shared/pbt.ts), from
 * the generation's verified results whose checkpoints are chosen: its next generation, continuing
 * its own checkpoint or exploiting a better member's with a perturbed learning rate, and a ledger
 * entry with the inputs. Nothing after the last generation.
 */
export async function pbtStatements(
  db: D1Database,
  campaignId: string,
  strategy: PbtStrategy,
  settled: { id: string; checkpointSha256: string },
  generation: number,
): Promise<{ statements: D1PreparedStatement[]; entries: NewEntry[] }> {
  if (generation + 1 >= strategy.generations) return { statements: [], entries: [] };
  const { results } = await db
    .prepare(
      `SELECT e.id, e.val_bpb AS valBpb, e.spec_json AS specJson, e.checkpoint_sha256 AS checkpointSha256
       FROM experiments e WHERE e.campaign_id = ? AND e.depth = ? AND e.status = 'verified'
         AND (e.checkpoint_sha256 IS NOT NULL OR e.id = ?)`,
    )
    .bind(campaignId, generation, settled.id)
    .all<{ id: string; valBpb: number; specJson: string; checkpointSha256: string | null }>();
  const rows = new Map(results.map((r) => [r.id, r]));
  const own = rows.get(settled.id);
  if (!own) return { statements: [], entries: [] };
  const member = memberOf(settled.id);
  const d = pbtDecision(
    strategy,
    campaignId,
    generation,
    { member, experimentId: settled.id, valBpb: own.valBpb },
    results.map((r) => ({ member: memberOf(r.id), experimentId: r.id, valBpb: r.valBpb })),
  );
  const parent = rows.get(d.parent)!;
  const parentSpec = ExperimentSpec.parse(JSON.parse(parent.specJson));
  const child = pbtChildSpec(
    parentSpec,
    d,
    d.parent === settled.id ? settled.checkpointSha256 : parent.checkpointSha256!,
  );
  const childId = `${member}-g${generation + 1}`;
  return {
    statements: [await childStatement(db, d.parent, childId, child)],
    entries: [
      {
        key: `generation:${settled.id}`,
        kind: 'generation',
        experimentId: childId,
        resultId: null,
        volunteerId: null,
        generation: d,
      },
    ],
  };
}
