// A campaign and its experiments as INSERT OR IGNORE statements, to run as one all-or-nothing
// batch: seeding the same campaign twice changes nothing. Pure, so the seed script can render it.
import type { Strategy } from '../../../shared/asha.ts';
import { specHash, tokenBudget, trainingFlops, type ExperimentSpec } from '../../../shared/spec.ts';

export interface NewCampaign {
  id: string;
  name: string;
  brief: string;
  template: 'gpt-char';
  datasetId: string;
  createdAt: number;
  specs: ExperimentSpec[];
  replicas?: number; // distinct volunteers whose agreeing results verify an experiment (default 2)
  segments?: number; // a lineage: each spec continued this many times in all (default 1, docs/lineage.md)
  strategy?: Strategy; // default random search (shared/asha.ts)
}

export interface Statement {
  sql: string;
  params: (string | number | null)[];
}

export async function campaignStatements(c: NewCampaign): Promise<Statement[]> {
  const out: Statement[] = [
    {
      sql: 'INSERT OR IGNORE INTO campaigns (id, name, brief, template, dataset_id, created_at, segments, strategy_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      params: [
        c.id,
        c.name,
        c.brief,
        c.template,
        c.datasetId,
        c.createdAt,
        c.segments ?? 1,
        c.strategy && c.strategy.kind !== 'random' ? JSON.stringify(c.strategy) : null,
      ],
    },
  ];
  for (const [idx, spec] of c.specs.entries()) {
    out.push({
      sql: `INSERT OR IGNORE INTO experiments (id, campaign_id, idx, spec_json, spec_hash, dataset_sha256, flops, tokens, replicas_needed, quorum)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: [
        `${c.id}-${idx}`,
        c.id,
        idx,
        JSON.stringify(spec),
        await specHash(spec),
        spec.dataset.sha256,
        trainingFlops(spec),
        tokenBudget(spec),
        c.replicas ?? 2,
        c.replicas ?? 2,
      ],
    });
  }
  return out;
}
