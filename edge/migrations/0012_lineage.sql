-- Lineages (docs/lineage.md): experiments that continue from a verified experiment's final
-- checkpoint. A campaign cut into `segments` continues each root that many times; a researcher may
-- add children of any verified experiment whose checkpoint is kept.
ALTER TABLE campaigns ADD COLUMN segments INTEGER NOT NULL DEFAULT 1;
-- The brief's strategy (shared/asha.ts): NULL is random search; ASHA promotes instead of continuing.
ALTER TABLE campaigns ADD COLUMN strategy_json TEXT;

-- The parent (NULL: a root), the lineage's root (NULL: the experiment is a root) and the depth.
ALTER TABLE experiments ADD COLUMN parent_id TEXT REFERENCES experiments(id);
ALTER TABLE experiments ADD COLUMN root_id TEXT REFERENCES experiments(id);
ALTER TABLE experiments ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
-- The canonical final checkpoint, once chosen: its hash (the commitment, R2 key checkpoints/<hash>),
-- the replica it came from, and when it was dropped from R2 by the storage rule (NULL: kept).
ALTER TABLE experiments ADD COLUMN checkpoint_sha256 TEXT;
ALTER TABLE experiments ADD COLUMN checkpoint_result_id TEXT REFERENCES results(id);
ALTER TABLE experiments ADD COLUMN checkpoint_dropped_at INTEGER;
CREATE INDEX experiments_by_parent ON experiments (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX experiments_by_root ON experiments (root_id) WHERE root_id IS NOT NULL;
CREATE INDEX experiments_by_checkpoint ON experiments (checkpoint_sha256) WHERE checkpoint_sha256 IS NOT NULL;

-- Every result of a lineage campaign commits to its final checkpoint; its volunteer is asked to
-- upload it (checked against that commitment) right after the result. The canonical one is chosen
-- among the revealed ones of agreeing replicas (edge/src/lineage/checkpoints.ts); the others are
-- dropped. awaiting → revealed | unrevealed (past reveal_deadline) → dropped.
CREATE TABLE final_checkpoints (
  result_id TEXT PRIMARY KEY REFERENCES results(id),
  experiment_id TEXT NOT NULL REFERENCES experiments(id),
  commitment TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'awaiting' CHECK (status IN ('awaiting', 'revealed', 'unrevealed', 'dropped')),
  reveal_deadline INTEGER NOT NULL,
  revealed_at INTEGER
);
CREATE INDEX final_checkpoints_by_experiment ON final_checkpoints (experiment_id, status);
CREATE INDEX final_checkpoints_awaiting ON final_checkpoints (reveal_deadline) WHERE status = 'awaiting';

-- The ledger records each canonical checkpoint (kind 'checkpoint') and each strategy decision
-- with its inputs (kind 'promotion' for ASHA, 'generation' for PBT). SQLite cannot change a CHECK
-- constraint in place: the table is rebuilt with its rows, index and append-only triggers.
DROP TRIGGER ledger_no_update;
DROP TRIGGER ledger_no_delete;
CREATE TABLE ledger_new (
  seq INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('verdict', 'credit', 'revoke', 'dispute', 'checkpoint', 'promotion', 'generation')),
  experiment_id TEXT NOT NULL,
  result_id TEXT,
  volunteer_id TEXT,
  entry TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
INSERT INTO ledger_new SELECT seq, key, kind, experiment_id, result_id, volunteer_id, entry, prev_hash, hash, created_at FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE INDEX ledger_by_volunteer ON ledger (volunteer_id, seq);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
  SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
  SELECT RAISE(ABORT, 'the ledger is append-only');
END;
