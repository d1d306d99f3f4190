-- Indexes that keep the volunteer loop's reads independent of how much data D1 holds
-- (edge/test/query-plans.test.ts checks every statement's plan; bench:edge --preload measures it).
--
-- Every foreign key's child column is indexed. SQLite looks up the child rows of a parent row when
-- one is deleted or re-keyed, and when one is inserted while violations are outstanding; without an
-- index each such check reads the whole child table (a plan step "SCAN spot_checks" on every insert
-- into experiments, "SCAN experiments" on every insert into results). Moving cold rows out of D1
-- deletes parents: those deletes must not read every child.
CREATE INDEX campaigns_by_researcher ON campaigns (researcher_id);
CREATE INDEX experiments_by_checkpoint_result ON experiments (checkpoint_result_id);
CREATE INDEX spot_checks_by_volunteer ON spot_checks (volunteer_id);
CREATE INDEX spot_checks_by_experiment ON spot_checks (experiment_id);
CREATE INDEX witnesses_by_witness ON witnesses (witness_id);

-- A volunteer's first registration address (or a tier crossing) notes the open experiments it holds
-- leases on for the campaign queues (migration 0010). The planner started that join from the
-- experiments by status, reading every open experiment of every campaign on each registration
-- (12,503 rows with the benchmark's 12,500 open experiments); CROSS JOIN makes it start from the
-- volunteer's own leases (leases_by_volunteer), which a new volunteer has none of.
DROP TRIGGER queue_volunteer_update;
CREATE TRIGGER queue_volunteer_update AFTER UPDATE OF ip_hash, reputation ON volunteers
WHEN OLD.ip_hash IS NOT NEW.ip_hash OR (OLD.reputation >= 20) != (NEW.reputation >= 20) OR (OLD.reputation >= 2) != (NEW.reputation >= 2)
BEGIN
  INSERT INTO queue_changes (campaign_id, experiment_id)
    SELECT DISTINCT e.campaign_id, e.id FROM leases l
      CROSS JOIN experiments e ON e.id = l.experiment_id
      JOIN queue_consumers q ON q.campaign_id = e.campaign_id
    WHERE l.volunteer_id = NEW.id AND e.status = 'open';
END;
