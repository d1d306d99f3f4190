-- Trust: backend classes and adaptive replication, reputation, credit, salted IP hashes, checkpoint
-- spot checks, and the append-only hash-chained ledger of verdicts, credits and revocations.
-- The rules live in edge/src/trust/policy.ts; this file only holds their state.

-- Per volunteer. ip_hash: salted SHA-256 of CF-Connecting-IP at registration (never the address).
-- credit_decayed: Σ credit · 2^((t − epoch) / half-life), so recent-average credit is additive and a
-- revocation subtracts exactly what its grant added (edge/src/trust/credit.ts).
ALTER TABLE volunteers ADD COLUMN ip_hash TEXT;
ALTER TABLE volunteers ADD COLUMN reputation INTEGER NOT NULL DEFAULT 0 CHECK (reputation BETWEEN -100 AND 100);
ALTER TABLE volunteers ADD COLUMN lease_quota INTEGER NOT NULL DEFAULT 2;
ALTER TABLE volunteers ADD COLUMN credit_total REAL NOT NULL DEFAULT 0;
ALTER TABLE volunteers ADD COLUMN credit_decayed REAL NOT NULL DEFAULT 0;

-- BOINC's per (host, app version) record: consecutive verified results in one backend class.
CREATE TABLE volunteer_classes (
  volunteer_id TEXT NOT NULL REFERENCES volunteers(id),
  backend_class TEXT NOT NULL,       -- shared/backend-class.ts: backend, '-f16' for float16 paths
  consecutive_valid INTEGER NOT NULL DEFAULT 0,
  valid INTEGER NOT NULL DEFAULT 0,
  invalid INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (volunteer_id, backend_class)
);

-- What the scheduler knew at lease time. single = 1: the adaptive-replication draw let this result
-- stand alone (never told to the volunteer).
ALTER TABLE leases ADD COLUMN backend_class TEXT;
ALTER TABLE leases ADD COLUMN precision TEXT NOT NULL DEFAULT 'float32';
ALTER TABLE leases ADD COLUMN browser TEXT;
ALTER TABLE leases ADD COLUMN ip_hash TEXT;
ALTER TABLE leases ADD COLUMN single INTEGER NOT NULL DEFAULT 0;
-- "Is another kind / a reliable volunteer training now?" (the scheduler) reads only open leases.
CREATE INDEX leases_open ON leases (deadline, backend_class, browser, volunteer_id) WHERE status = 'open';

-- verification: how a verified experiment was decided ('quorum' | 'trusted-single').
-- audit = 1: reopened (a trusted-single result's volunteer was caught, or a spot check failed):
-- only a quorum can verify it again. reissued_at: replicas asked after a disagreement or an audit
-- go to reliable volunteers first. trust_version: optimistic lock of the validator (a stale write
-- sets it NULL, which NOT NULL refuses, so the whole batch rolls back and is retried).
ALTER TABLE experiments ADD COLUMN verification TEXT;
ALTER TABLE experiments ADD COLUMN audit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE experiments ADD COLUMN reissued_at INTEGER;
ALTER TABLE experiments ADD COLUMN trust_version INTEGER NOT NULL DEFAULT 0;

-- basis: why the verdict ('quorum' | 'trusted-single' | 'outvoted' | 'copy' | 'overturned' | 'late').
ALTER TABLE results ADD COLUMN basis TEXT;
ALTER TABLE results ADD COLUMN credit_state TEXT NOT NULL DEFAULT 'none' CHECK (credit_state IN ('none', 'granted', 'revoked'));
ALTER TABLE results ADD COLUMN credited_at INTEGER; -- when the credit was granted (a revocation undoes exactly that)
CREATE INDEX results_trust_by_volunteer ON results (volunteer_id, verdict, basis);

-- Server-side secrets made here once per database: the salt of IP hashes and the key of the
-- replication draw. Random per database, so no two deployments (or test files) share them.
CREATE TABLE trust_secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO trust_secrets (name, value) VALUES ('ip_salt', lower(hex(randomblob(32))));
INSERT INTO trust_secrets (name, value) VALUES ('draw_key', lower(hex(randomblob(32))));

-- Spot checks of trusted-single results: another volunteer retrains [0, to_step) from the seed and
-- its segment means must match the target's within TAU_SPOT (shared/commit.ts). A spot check is
-- its own lease (token, deadline), so it never takes a replica slot.
CREATE TABLE spot_checks (
  id TEXT PRIMARY KEY,
  result_id TEXT NOT NULL REFERENCES results(id),
  experiment_id TEXT NOT NULL REFERENCES experiments(id),
  to_step INTEGER NOT NULL,
  expected_json TEXT NOT NULL,       -- the target's segment means over [0, to_step)
  precision TEXT NOT NULL DEFAULT 'float32',
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'leased', 'passed', 'failed')),
  volunteer_id TEXT REFERENCES volunteers(id),
  token_hash TEXT,
  deadline INTEGER,
  observed_json TEXT,
  created_at INTEGER NOT NULL,
  decided_at INTEGER,
  UNIQUE (result_id, to_step)
);
CREATE INDEX spot_checks_by_status ON spot_checks (status, deadline);

-- The ledger. hash = SHA-256(prev_hash ‖ entry), entry being canonical JSON (shared/ledger.ts).
-- seq is the primary key, so two writers racing for the same place make one batch fail and retry;
-- key is unique, so a verdict, credit or revocation is recorded once.
CREATE TABLE ledger (
  seq INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,          -- e.g. 'credit:<result id>'
  kind TEXT NOT NULL CHECK (kind IN ('verdict', 'credit', 'revoke', 'dispute')),
  experiment_id TEXT NOT NULL,
  result_id TEXT,
  volunteer_id TEXT,
  entry TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE INDEX ledger_by_volunteer ON ledger (volunteer_id, seq);

-- Append-only: the edge never rewrites an entry, and these make an accidental UPDATE or DELETE fail.
-- (Someone with direct access to the database can drop them; the chain is what detects that.)
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
  SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
  SELECT RAISE(ABORT, 'the ledger is append-only');
END;
