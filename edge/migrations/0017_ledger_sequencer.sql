-- Ledger entries waiting for their place in the chain. A verdict, credit or revocation is written
-- here in the same batch as the state it records, and the ledger sequencer (one Durable Object,
-- edge/src/ledger-sequencer.ts) chains waiting entries onto the head one batch at a time, so
-- concurrent verdicts no longer race for the ledger's head (docs/scale.md, "No single hot spot").
-- entry: the entry's canonical JSON without seq and at, which the sequencer gives it.
CREATE TABLE ledger_pending (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  entry TEXT NOT NULL,
  at INTEGER NOT NULL
);

-- A key is recorded once across both tables: an entry already in the chain cannot wait again. The
-- message matches a unique violation on ledger.key, which writers treat as a lost race.
CREATE TRIGGER ledger_pending_key_once BEFORE INSERT ON ledger_pending
WHEN EXISTS (SELECT 1 FROM ledger WHERE key = NEW.key)
BEGIN
  SELECT RAISE(ABORT, 'UNIQUE constraint failed: ledger.key');
END;
