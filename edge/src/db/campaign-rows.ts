// Campaign rows as the API shows them: one by id (a 400 for a malformed id, a 404 for an unknown one)
// and all of them, newest first; and a researcher's new campaign written.
import type { Campaign } from '../../../shared/protocol.ts';
import { Id } from '../../../shared/protocol.ts';
import type { CampaignBrief } from '../../../shared/search-space.ts';
import { fail } from '../errors.ts';
import type { Statement } from './campaigns.ts';

const CAMPAIGN_SQL = `
SELECT c.id, c.name, c.brief, c.template, c.dataset_id AS datasetId, c.created_at AS createdAt,
  (SELECT count(*) FROM experiments e WHERE e.campaign_id = c.id) AS experiments,
  (SELECT count(*) FROM experiments e WHERE e.campaign_id = c.id AND e.status = 'verified') AS verified
FROM campaigns c`;

export async function findCampaign(db: D1Database, id: string): Promise<Campaign> {
  if (!Id.safeParse(id).success)
    fail(400, 'invalid_request', 'A campaign id is 1–64 letters, digits, _ or -.');
  const row = await db.prepare(`${CAMPAIGN_SQL} WHERE c.id = ?`).bind(id).first<Campaign>();
  if (!row) fail(404, 'unknown_campaign', `No campaign has the id ${id}.`);
  return row;
}

/** A researcher's new campaign and its experiments, all or nothing, with the brief it came from. */
export async function insertCampaign(
  db: D1Database,
  statements: Statement[],
  c: { id: string; researcher: { id: string; name: string }; brief: CampaignBrief; now: number },
): Promise<void> {
  await db.batch([
    // The researcher's row in this shard, for campaigns.researcher_id (shard 0 has it already). The
    // copy holds no token hash: researchers sign in against shard 0 only (researcher-auth.ts).
    db
      .prepare(
        "INSERT OR IGNORE INTO researchers (id, name, token_hash, created_at) VALUES (?, ?, 'shard-copy:' || ?, ?)",
      )
      .bind(c.researcher.id, c.researcher.name, c.researcher.id, c.now),
    ...statements.map((s) => db.prepare(s.sql).bind(...s.params)),
    db
      .prepare('UPDATE campaigns SET researcher_id = ?, brief_json = ? WHERE id = ?')
      .bind(c.researcher.id, JSON.stringify(c.brief), c.id),
  ]);
}

export async function listCampaigns(db: D1Database): Promise<Campaign[]> {
  return (await db.prepare(`${CAMPAIGN_SQL} ORDER BY c.created_at DESC`).all<Campaign>()).results;
}
