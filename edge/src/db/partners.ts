// Partner rows and their public stats. A partner is a site that embeds the widget; the origins it
// registered are the only ones allowed to frame /embed for it (CSP frame-ancestors), so they are
// validated when written (scripts/partner.ts) and again when read into a header (partner-origin.ts).
import type { PartnerStats } from '../../../shared/protocol.ts';
import { partnerOrigin } from '../partner-origin.ts';

export interface Partner {
  id: string;
  name: string;
  origins: string[];
  createdAt: number;
}

/** Origins from the stored JSON, each re-validated: only a serialized origin may reach a header. */
function parseOrigins(json: string): string[] {
  try {
    const list: unknown = JSON.parse(json);
    if (!Array.isArray(list)) return [];
    return list.filter((o): o is string => typeof o === 'string' && partnerOrigin(o) === o);
  } catch {
    return [];
  }
}

export async function findPartner(db: D1Database, id: string): Promise<Partner | null> {
  const row = await db
    .prepare(
      'SELECT id, name, origins_json AS originsJson, created_at AS createdAt FROM partners WHERE id = ?',
    )
    .bind(id)
    .first<{ id: string; name: string; originsJson: string; createdAt: number }>();
  return (
    row && {
      id: row.id,
      name: row.name,
      origins: parseOrigins(row.originsJson),
      createdAt: row.createdAt,
    }
  );
}

export async function partnerExists(db: D1Database, id: string): Promise<boolean> {
  return (await db.prepare('SELECT 1 FROM partners WHERE id = ?').bind(id).first()) !== null;
}

/** Attributes a lease to the partner whose widget asked for it (after the scheduler's claim). */
export async function attributeLease(
  db: D1Database,
  leaseId: string,
  partnerId: string,
): Promise<void> {
  await db.prepare('UPDATE leases SET partner_id = ? WHERE id = ?').bind(partnerId, leaseId).run();
}

// Results reach a partner through their lease (results.lease_id is UNIQUE, so indexed), and the
// leases of partners through leases_by_partner; only verified work counts towards tokens and
// volunteers, as credit does (edge/src/trust/credit.ts). Partners live in shard 0 and leases in
// their campaign's shard, so each shard sums its own leases per partner id, naming its volunteers
// (a volunteer may have worked in two shards: the merge counts distinct ids, db/fan-out.ts).
const SHARD_STATS_SQL = `
SELECT l.partner_id AS id,
  count(DISTINCT r.experiment_id) AS experiments,
  count(CASE WHEN r.verdict = 'valid' THEN 1 END) AS verifiedResults,
  coalesce(sum(CASE WHEN r.verdict = 'valid' THEN e.tokens END), 0) AS tokensTrained,
  json_group_array(DISTINCT CASE WHEN r.verdict = 'valid' THEN r.volunteer_id END) AS volunteersJson
FROM leases l
JOIN results r ON r.lease_id = l.id
LEFT JOIN experiments e ON e.id = r.experiment_id`;

/** One shard's work through partner widgets: `volunteers` lists ids, for a distinct count. */
export type ShardPartnerStats = Omit<PartnerStats, 'name' | 'createdAt' | 'volunteers'> & {
  volunteers: string[];
};

/** One shard's work through each partner's widget (or through partner `id`'s only). */
export async function shardPartnerStats(db: D1Database, id?: string): Promise<ShardPartnerStats[]> {
  const statement =
    id === undefined
      ? db.prepare(`${SHARD_STATS_SQL} WHERE l.partner_id IS NOT NULL GROUP BY l.partner_id`)
      : db.prepare(`${SHARD_STATS_SQL} WHERE l.partner_id = ? GROUP BY l.partner_id`).bind(id);
  const { results } = await statement.all<
    Omit<ShardPartnerStats, 'volunteers'> & { volunteersJson: string }
  >();
  return results.map(({ volunteersJson, ...row }) => ({
    ...row,
    volunteers: (JSON.parse(volunteersJson) as (string | null)[]).filter((v) => v !== null),
  }));
}

/** Registered partners (shard 0): one by id, or all of them. */
export async function partnerRows(
  db: D1Database,
  id?: string,
): Promise<Pick<PartnerStats, 'id' | 'name' | 'createdAt'>[]> {
  const sql = 'SELECT id, name, created_at AS createdAt FROM partners';
  const statement = id === undefined ? db.prepare(sql) : db.prepare(`${sql} WHERE id = ?`).bind(id);
  return (await statement.all<Pick<PartnerStats, 'id' | 'name' | 'createdAt'>>()).results;
}
