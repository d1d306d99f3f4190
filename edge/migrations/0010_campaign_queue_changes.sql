-- The change feed of the campaign queues (edge/src/queue/): each campaign's Durable Object keeps a
-- copy of what the claim reads (open experiments and their leases) and, before claiming, reads
-- which of its experiments changed since it last looked. Triggers write the feed, so every writer
-- is covered — routes, the validator, audits and spot checks, seed scripts, tests — without each
-- having to remember to tell the queue.

-- Campaigns whose queue has loaded: only their changes are recorded, so an edge that runs the D1
-- scheduler (SCHEDULER = "d1") writes no feed at all. Going back from "queue" to "d1": empty this
-- table, or the feed keeps growing with nobody to read and prune it.
CREATE TABLE queue_consumers (
  campaign_id TEXT PRIMARY KEY
);

-- AUTOINCREMENT: seq never goes back, even after the queue prunes the newest rows it consumed.
CREATE TABLE queue_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  campaign_id TEXT NOT NULL,
  experiment_id TEXT NOT NULL
);
CREATE INDEX queue_changes_by_campaign ON queue_changes (campaign_id, seq);

-- Experiments: a new one, or a change to a column the claim reads.
CREATE TRIGGER queue_experiment_insert AFTER INSERT ON experiments
WHEN EXISTS (SELECT 1 FROM queue_consumers WHERE campaign_id = NEW.campaign_id)
BEGIN
  INSERT INTO queue_changes (campaign_id, experiment_id) VALUES (NEW.campaign_id, NEW.id);
END;
CREATE TRIGGER queue_experiment_update AFTER UPDATE OF status, replicas_needed, reissued_at, audit, quorum ON experiments
WHEN EXISTS (SELECT 1 FROM queue_consumers WHERE campaign_id = NEW.campaign_id)
BEGIN
  INSERT INTO queue_changes (campaign_id, experiment_id) VALUES (NEW.campaign_id, NEW.id);
END;

-- Leases: a new one (the queue's own, or one written by anything else), or a change to a column
-- the claim reads (done, a heartbeat's deadline, an adaptive-replication release).
CREATE TRIGGER queue_lease_insert AFTER INSERT ON leases
WHEN EXISTS (SELECT 1 FROM queue_consumers q JOIN experiments e ON e.campaign_id = q.campaign_id WHERE e.id = NEW.experiment_id)
BEGIN
  INSERT INTO queue_changes (campaign_id, experiment_id)
    SELECT campaign_id, id FROM experiments WHERE id = NEW.experiment_id;
END;
CREATE TRIGGER queue_lease_update
AFTER UPDATE OF status, deadline, single, created_at, volunteer_id, backend, backend_class, browser, precision, ip_hash ON leases
WHEN EXISTS (SELECT 1 FROM queue_consumers q JOIN experiments e ON e.campaign_id = q.campaign_id WHERE e.id = NEW.experiment_id)
BEGIN
  INSERT INTO queue_changes (campaign_id, experiment_id)
    SELECT campaign_id, id FROM experiments WHERE id = NEW.experiment_id;
END;

-- Volunteers: the claim reads a leaseholder's registration address (same-address leases never
-- replicate each other) and its trust tier (reputation >= 2 vouched for, >= 20 reliable:
-- trust/policy.ts's VOUCHED_REPUTATION and RELIABLE_REPUTATION), so the experiments it holds leases
-- on change when either does. Reputation moves with every verdict: only a crossing is noted.
CREATE TRIGGER queue_volunteer_update AFTER UPDATE OF ip_hash, reputation ON volunteers
WHEN OLD.ip_hash IS NOT NEW.ip_hash OR (OLD.reputation >= 20) != (NEW.reputation >= 20) OR (OLD.reputation >= 2) != (NEW.reputation >= 2)
BEGIN
  INSERT INTO queue_changes (campaign_id, experiment_id)
    SELECT DISTINCT e.campaign_id, e.id FROM leases l
      JOIN experiments e ON e.id = l.experiment_id
      JOIN queue_consumers q ON q.campaign_id = e.campaign_id
    WHERE l.volunteer_id = NEW.id AND e.status = 'open';
END;
