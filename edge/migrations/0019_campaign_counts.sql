-- A campaign's progress counts, kept up to date by triggers instead of counted per read
-- (edge/src/db/progress.ts). Counting read every experiment of the campaign and its results and
-- leases: 63,500 rows and ~27 ms of D1 per read with 12,500 experiments (bench:edge --profile,
-- docs/scale.md), on every verification's live update and every public progress read.
-- Each experiment adds to its campaign's row by (status, tokens, replicas_needed, its result count):
-- one to `experiments`; open with no result → open_fresh (queued or running: progress.ts tells
-- them apart from the live leases); open with results → awaiting; verified; disputed; and, while
-- open, tokens × max(0, replicas_needed − results) to remaining_tokens. A trigger takes an
-- experiment's old contribution away and adds its new one whenever an input changes.
CREATE TABLE campaign_counts (
  campaign_id TEXT PRIMARY KEY REFERENCES campaigns(id),
  experiments INTEGER NOT NULL DEFAULT 0,
  open_fresh INTEGER NOT NULL DEFAULT 0,
  awaiting INTEGER NOT NULL DEFAULT 0,
  verified INTEGER NOT NULL DEFAULT 0,
  disputed INTEGER NOT NULL DEFAULT 0,
  remaining_tokens INTEGER NOT NULL DEFAULT 0
);

INSERT INTO campaign_counts (campaign_id, experiments, open_fresh, awaiting, verified, disputed, remaining_tokens)
SELECT campaign_id, count(*),
  coalesce(sum(status = 'open' AND n = 0), 0),
  coalesce(sum(status = 'open' AND n > 0), 0),
  coalesce(sum(status = 'verified'), 0),
  coalesce(sum(status = 'disputed'), 0),
  coalesce(sum(CASE WHEN status = 'open' THEN tokens * MAX(0, replicas_needed - n) ELSE 0 END), 0)
FROM (SELECT e.campaign_id, e.status, e.tokens, e.replicas_needed,
        (SELECT count(*) FROM results r WHERE r.experiment_id = e.id) AS n
      FROM experiments e)
GROUP BY campaign_id;

CREATE TRIGGER campaign_counts_experiment_insert AFTER INSERT ON experiments
BEGIN
  INSERT OR IGNORE INTO campaign_counts (campaign_id) VALUES (NEW.campaign_id);
  UPDATE campaign_counts SET
    experiments = experiments + 1,
    open_fresh = open_fresh + (NEW.status = 'open'),
    verified = verified + (NEW.status = 'verified'),
    disputed = disputed + (NEW.status = 'disputed'),
    remaining_tokens = remaining_tokens
      + CASE WHEN NEW.status = 'open' THEN NEW.tokens * MAX(0, NEW.replicas_needed) ELSE 0 END
  WHERE campaign_id = NEW.campaign_id;
END;

CREATE TRIGGER campaign_counts_experiment_update AFTER UPDATE OF status, tokens, replicas_needed ON experiments
WHEN OLD.status IS NOT NEW.status OR OLD.tokens IS NOT NEW.tokens OR OLD.replicas_needed IS NOT NEW.replicas_needed
BEGIN
  UPDATE campaign_counts SET
    open_fresh = open_fresh + (NEW.status = 'open' AND n = 0) - (OLD.status = 'open' AND n = 0),
    awaiting = awaiting + (NEW.status = 'open' AND n > 0) - (OLD.status = 'open' AND n > 0),
    verified = verified + (NEW.status = 'verified') - (OLD.status = 'verified'),
    disputed = disputed + (NEW.status = 'disputed') - (OLD.status = 'disputed'),
    remaining_tokens = remaining_tokens
      + CASE WHEN NEW.status = 'open' THEN NEW.tokens * MAX(0, NEW.replicas_needed - n) ELSE 0 END
      - CASE WHEN OLD.status = 'open' THEN OLD.tokens * MAX(0, OLD.replicas_needed - n) ELSE 0 END
  FROM (SELECT count(*) AS n FROM results WHERE experiment_id = NEW.id)
  WHERE campaign_id = NEW.campaign_id;
END;

-- A result moves its experiment from n − 1 to n results (n counted after the insert).
CREATE TRIGGER campaign_counts_result_insert AFTER INSERT ON results
BEGIN
  UPDATE campaign_counts SET
    open_fresh = open_fresh - (e.status = 'open' AND n = 1),
    awaiting = awaiting + (e.status = 'open' AND n = 1),
    remaining_tokens = remaining_tokens
      + CASE WHEN e.status = 'open'
          THEN e.tokens * (MAX(0, e.replicas_needed - n) - MAX(0, e.replicas_needed - (n - 1))) ELSE 0 END
  FROM (SELECT x.campaign_id, x.status, x.tokens, x.replicas_needed,
          (SELECT count(*) FROM results WHERE experiment_id = x.id) AS n
        FROM experiments x WHERE x.id = NEW.experiment_id) AS e
  WHERE campaign_counts.campaign_id = e.campaign_id;
END;

-- And back, when a result is removed (n counted after the delete).
CREATE TRIGGER campaign_counts_result_delete AFTER DELETE ON results
BEGIN
  UPDATE campaign_counts SET
    open_fresh = open_fresh + (e.status = 'open' AND n = 0),
    awaiting = awaiting - (e.status = 'open' AND n = 0),
    remaining_tokens = remaining_tokens
      + CASE WHEN e.status = 'open'
          THEN e.tokens * (MAX(0, e.replicas_needed - n) - MAX(0, e.replicas_needed - (n + 1))) ELSE 0 END
  FROM (SELECT x.campaign_id, x.status, x.tokens, x.replicas_needed,
          (SELECT count(*) FROM results WHERE experiment_id = x.id) AS n
        FROM experiments x WHERE x.id = OLD.experiment_id) AS e
  WHERE campaign_counts.campaign_id = e.campaign_id;
END;

CREATE TRIGGER campaign_counts_experiment_delete AFTER DELETE ON experiments
BEGIN
  UPDATE campaign_counts SET
    experiments = experiments - 1,
    open_fresh = open_fresh - (OLD.status = 'open' AND n = 0),
    awaiting = awaiting - (OLD.status = 'open' AND n > 0),
    verified = verified - (OLD.status = 'verified'),
    disputed = disputed - (OLD.status = 'disputed'),
    remaining_tokens = remaining_tokens
      - CASE WHEN OLD.status = 'open' THEN OLD.tokens * MAX(0, OLD.replicas_needed - n) ELSE 0 END
  FROM (SELECT count(*) AS n FROM results WHERE experiment_id = OLD.id)
  WHERE campaign_id = OLD.campaign_id;
END;
