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

// Results reach a partner through their lease (results.lease_id is UNIQUE, so indexed); only
// verified work counts towards tokens and volunteers, as credit does (edge/src/trust/credit.ts).
const STATS_SQL = `
SELECT p.id, p.name, p.created_at AS createdAt,
  count(DISTINCT r.experiment_id) AS experiments,
  count(CASE WHEN r.verdict = 'valid' THEN 1 END) AS verifiedResults,
  coalesce(sum(CASE WHEN r.verdict = 'valid' THEN e.tokens END), 0) AS tokensTrained,
  count(DISTINCT CASE WHEN r.verdict = 'valid' THEN r.volunteer_id END) AS volunteers
FROM partners p
LEFT JOIN leases l ON l.partner_id = p.id
LEFT JOIN results r ON r.lease_id = l.id
LEFT JOIN experiments e ON e.id = r.experiment_id`;

export async function partnerStats(db: D1Database, id: string): Promise<PartnerStats | null> {
  return db.prepare(`${STATS_SQL} WHERE p.id = ? GROUP BY p.id`).bind(id).first<PartnerStats>();
}

/** Every registered partner, most verified results first, then most tokens. */
export async function partnerLeaderboard(db: D1Database, limit = 1000): Promise<PartnerStats[]> {
  const { results } = await db
    .prepare(
      `${STATS_SQL} GROUP BY p.id ORDER BY verifiedResults DESC, tokensTrained DESC, p.created_at, p.id LIMIT ?`,
    )
    .bind(limit)
    .all<PartnerStats>();
  return results;
}
