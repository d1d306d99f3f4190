-- Cold records in R2 (docs/scale.md, "Storage with a bound"): the index of archive segments, the
-- campaigns whose cold rows have moved, and the ledger's delete guard narrowed to its sealed prefix.

-- One row per segment written to R2 at archive/<sha256>.ndjson.gz (edge/src/archive/segment.ts).
-- kind 'results': the full rows of a finished campaign's results for one chunk of its experiments,
-- taken in (verified_at, id) order from first_* to last_*. kind 'ledger': entries first_seq..last_seq,
-- prev_hash the hash before the first, head_hash the hash of the last.
CREATE TABLE archive_segments (
  sha256 TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('results', 'ledger')),
  campaign_id TEXT REFERENCES campaigns(id),
  first_at INTEGER,
  first_id TEXT,
  last_at INTEGER,
  last_id TEXT,
  first_seq INTEGER,
  last_seq INTEGER,
  prev_hash TEXT,
  head_hash TEXT,
  rows INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  CHECK ((kind = 'ledger') = (first_seq IS NOT NULL AND last_seq IS NOT NULL AND prev_hash IS NOT NULL AND head_hash IS NOT NULL)),
  CHECK ((kind = 'results') = (campaign_id IS NOT NULL AND last_at IS NOT NULL AND last_id IS NOT NULL))
);
-- The ledger's segments are consecutive and never overlap: one per last_seq and per first_seq.
CREATE UNIQUE INDEX archive_ledger_by_last ON archive_segments (last_seq) WHERE kind = 'ledger';
CREATE UNIQUE INDEX archive_ledger_by_first ON archive_segments (first_seq) WHERE kind = 'ledger';
CREATE UNIQUE INDEX archive_results_by_campaign ON archive_segments (campaign_id, last_at, last_id) WHERE kind = 'results';

-- Set once every chunk of a finished campaign is archived: the cron then passes it by.
ALTER TABLE campaigns ADD COLUMN archived_at INTEGER;

-- The ledger stays append-only, but an entry in a sealed segment (seq at or below the last archived
-- seq) may leave D1: its copy in R2 is named by its hash, and the next entry's prev_hash pins it.
DROP TRIGGER ledger_no_delete;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
WHEN OLD.seq > coalesce((SELECT max(last_seq) FROM archive_segments WHERE kind = 'ledger'), 0)
BEGIN
  SELECT RAISE(ABORT, 'the ledger is append-only');
END;
