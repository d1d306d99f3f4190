-- Researchers (tokens stored as SHA-256 only), the datasets campaigns may use, and what a campaign
-- was created from.
CREATE TABLE researchers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

CREATE TABLE datasets (
  id TEXT PRIMARY KEY,
  manifest_sha256 TEXT NOT NULL,
  vocab_size INTEGER NOT NULL,
  name TEXT NOT NULL,
  registered_at INTEGER NOT NULL
);

ALTER TABLE campaigns ADD COLUMN researcher_id TEXT REFERENCES researchers(id);
ALTER TABLE campaigns ADD COLUMN brief_json TEXT;

-- How many agreeing results from distinct volunteers verify the experiment (the brief's replicas).
ALTER TABLE experiments ADD COLUMN quorum INTEGER NOT NULL DEFAULT 2;
