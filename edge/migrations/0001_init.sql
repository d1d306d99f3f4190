-- Tabgrid's state: volunteers, campaigns and their experiments, leases, signed results.
CREATE TABLE volunteers (
  id TEXT PRIMARY KEY,               -- 'v_' + SHA-256(public key)[:16 bytes], see shared/crypto.ts
  public_key TEXT NOT NULL UNIQUE,   -- base64url raw Ed25519
  display_name TEXT,
  created_at INTEGER NOT NULL
);

CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  brief TEXT NOT NULL,
  template TEXT NOT NULL,
  dataset_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE experiments (
  id TEXT PRIMARY KEY,
  campaign_id TEXT NOT NULL REFERENCES campaigns(id),
  idx INTEGER NOT NULL,
  spec_json TEXT NOT NULL,
  spec_hash TEXT NOT NULL,
  dataset_sha256 TEXT NOT NULL,
  flops REAL NOT NULL,
  tokens INTEGER NOT NULL,           -- the fixed budget: steps × batch × context
  replicas_needed INTEGER NOT NULL DEFAULT 2,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'verified', 'disputed')),
  val_bpb REAL,
  verified_at INTEGER,
  UNIQUE (campaign_id, idx)
);
CREATE INDEX experiments_by_status ON experiments (status, campaign_id, idx);

CREATE TABLE leases (
  id TEXT PRIMARY KEY,
  experiment_id TEXT NOT NULL REFERENCES experiments(id),
  volunteer_id TEXT NOT NULL REFERENCES volunteers(id),
  token_hash TEXT NOT NULL,          -- SHA-256 of the bearer token handed to the volunteer
  backend TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
  UNIQUE (experiment_id, volunteer_id) -- a volunteer never holds two replicas of one experiment
);
CREATE INDEX leases_by_experiment ON leases (experiment_id, status, deadline);
CREATE INDEX leases_by_volunteer ON leases (volunteer_id, status, deadline);

CREATE TABLE results (
  id TEXT PRIMARY KEY,
  lease_id TEXT NOT NULL UNIQUE REFERENCES leases(id), -- one result per lease: idempotent submit
  experiment_id TEXT NOT NULL REFERENCES experiments(id),
  volunteer_id TEXT NOT NULL REFERENCES volunteers(id),
  backend TEXT NOT NULL,
  val_bpb REAL NOT NULL,
  metrics_json TEXT NOT NULL,
  payload_json TEXT NOT NULL,        -- the signed payload, as received
  signature TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  verdict TEXT NOT NULL DEFAULT 'pending' CHECK (verdict IN ('pending', 'valid', 'invalid'))
);
CREATE INDEX results_by_experiment ON results (experiment_id);
