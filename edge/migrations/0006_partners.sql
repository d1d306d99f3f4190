-- Partner sites that embed the volunteer widget (`npm run partner -- add`), and which leases came
-- through one. A lease's partner_id is attribution only: credit stays with the volunteer.
CREATE TABLE partners (
  id TEXT PRIMARY KEY,               -- shared/protocol.ts PartnerId: [a-z0-9-]{1,40}
  name TEXT NOT NULL,                -- shown in the widget and on the partner leaderboard
  origins_json TEXT NOT NULL,        -- JSON array of origins allowed to frame /embed (CSP frame-ancestors)
  created_at INTEGER NOT NULL
);

-- No REFERENCES: removing a partner must not rewrite or block the lease history it leaves behind
-- (its leases keep the id; the public stats read only registered partners).
ALTER TABLE leases ADD COLUMN partner_id TEXT;
CREATE INDEX leases_by_partner ON leases (partner_id) WHERE partner_id IS NOT NULL;
