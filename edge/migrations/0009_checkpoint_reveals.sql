-- Spot checks from a committed checkpoint (shared/commit.ts): the validator picks, by a secret
-- draw, one commitment of a trusted-single result; its volunteer reveals that checkpoint (the blob
-- goes to R2, checked against the commitment) and another volunteer trains the next segment from
-- it. from_step = 0 is the old check from the seed, which needs no reveal.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt with the new states:
-- awaiting-reveal → open (revealed) → leased → passed | failed, or awaiting-reveal → unrevealed.
CREATE TABLE spot_checks_new (
  id TEXT PRIMARY KEY,
  result_id TEXT NOT NULL REFERENCES results(id),
  experiment_id TEXT NOT NULL REFERENCES experiments(id),
  from_step INTEGER NOT NULL DEFAULT 0,
  to_step INTEGER NOT NULL,
  commitment TEXT,                   -- the revealed checkpoint's commitment (NULL: from the seed)
  reveal_deadline INTEGER,           -- awaiting-reveal until then, unrevealed after
  expected_json TEXT NOT NULL,       -- the target's segment means over [from_step, to_step)
  precision TEXT NOT NULL DEFAULT 'float32',
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('awaiting-reveal', 'open', 'leased', 'passed', 'failed', 'unrevealed')),
  volunteer_id TEXT REFERENCES volunteers(id),
  token_hash TEXT,
  deadline INTEGER,
  observed_json TEXT,
  created_at INTEGER NOT NULL,
  decided_at INTEGER,
  UNIQUE (result_id, to_step)
);
INSERT INTO spot_checks_new (id, result_id, experiment_id, to_step, expected_json, precision, status, volunteer_id, token_hash, deadline, observed_json, created_at, decided_at)
  SELECT id, result_id, experiment_id, to_step, expected_json, precision, status, volunteer_id, token_hash, deadline, observed_json, created_at, decided_at FROM spot_checks;
DROP TABLE spot_checks;
ALTER TABLE spot_checks_new RENAME TO spot_checks;
CREATE INDEX spot_checks_by_status ON spot_checks (status, deadline);
CREATE INDEX spot_checks_awaiting ON spot_checks (reveal_deadline) WHERE status = 'awaiting-reveal';
