-- Keys linked to a volunteer besides the one it registered with, so an identity can move to
-- another browser without extracting a private key (each browser keeps a non-extractable key).
CREATE TABLE volunteer_keys (
  public_key TEXT PRIMARY KEY,       -- base64url raw Ed25519
  volunteer_id TEXT NOT NULL REFERENCES volunteers(id),
  created_at INTEGER NOT NULL
);
CREATE INDEX volunteer_keys_by_volunteer ON volunteer_keys (volunteer_id);

-- The timestamp of the latest registration applied, so that replaying an older signed
-- registration cannot roll a display name back.
ALTER TABLE volunteers ADD COLUMN registered_ts INTEGER;
