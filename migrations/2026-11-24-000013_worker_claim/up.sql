-- The worker's claim asks for the oldest queued deployment that may start,
-- and, for each candidate, how many already run in its environment (so
-- does the start guard). Both were answered by reading every active row of
-- the queue: with 1,000 deployments queued, each claim read all of them.
-- Each question now has an index over exactly its rows.
CREATE INDEX deployments_queued_idx ON deployments (created_at, id) WHERE status = 'queued';

-- How many run in an environment. deployments_active_environment_idx also
-- holds the running rows, among every waiting one; when the statistics
-- predate a long queue both indexes cost the same to the planner, and a
-- plan a connection keeps may count through the whole queue (seen: 5,000
-- rows read per count while 5,000 waited). The predicate and the counts
-- below say `'running' COLLATE "C"`: the same test on this column (equality
-- is the same in every deterministic collation), but only this index's
-- predicate follows from it, so no other index can be picked for it.
CREATE INDEX deployments_running_environment_idx ON deployments (environment_id)
    WHERE status = 'running' COLLATE "C";

-- The start guard, as in 2026-11-22-000005_execution, counting through
-- that index.
CREATE OR REPLACE FUNCTION deployments_guard_running() RETURNS trigger AS $$
DECLARE
    limit_running INTEGER;
BEGIN
    IF NEW.status = 'running' AND OLD.status <> 'running' THEN
        SELECT max_running INTO limit_running FROM environments WHERE id = NEW.environment_id FOR UPDATE;
        IF (SELECT count(*) FROM deployments
             WHERE environment_id = NEW.environment_id AND status = 'running' COLLATE "C"
               AND id <> NEW.id) >= limit_running THEN
            RAISE EXCEPTION 'environment % already runs % deployment(s)', NEW.environment_id, limit_running
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- The claim's choice: the oldest queued deployment that may start now
-- (deployment_may_start) in an environment below its limit, locked; or
-- none. The 16 oldest queued deployments are looked at first, so the
-- checks run for those only, whatever the queue's length; only when none
-- of them may start (held by a window, a freeze, a not-before time or a
-- full environment) and more are queued is the whole queue looked at.
-- The first query is written so that no planner statistics can turn it
-- back into a scan of the whole queue (a queue filled since the last
-- ANALYZE looks empty to the planner, and then any plan looks cheap): the
-- oldest ids are taken in `created_at` order alone, which both
-- deployments_queued_idx and deployments_active_idx give without a sort,
-- so the LIMIT stops the walk whichever index is chosen (deployments
-- queued in one transaction share a `created_at`; among those the window
-- may not hold the lowest ids, and any of them is as old as the others);
-- the rows are fetched by primary key, their status checked on the row
-- (`IS TRUE` keeps it from being used to pick an index) and again on the
-- locked row, as before; the candidates are then ordered as before. The
-- window is a constant, not a parameter, so no plan has to guess it.
-- A function, so its plans are prepared once per connection: sent as
-- text, this query took longer to plan than to run.
CREATE FUNCTION deployment_claim_candidate()
RETURNS TABLE (id BIGINT, environment_id BIGINT, project_id BIGINT, queue_policy TEXT) AS $$
BEGIN
    RETURN QUERY
    SELECT d.id, d.environment_id, e.project_id, e.queue_policy
      FROM deployments d JOIN environments e ON e.id = d.environment_id
     WHERE d.id = ANY (ARRAY(SELECT q.id FROM deployments q WHERE q.status = 'queued'
                              ORDER BY q.created_at LIMIT 16))
       AND (d.status = 'queued') IS TRUE
       AND deployment_may_start(d, e, now())
       AND (SELECT count(*) FROM deployments r
             WHERE r.environment_id = d.environment_id AND r.status = 'running' COLLATE "C") < e.max_running
     ORDER BY d.created_at, d.id
     LIMIT 1
     FOR UPDATE OF d SKIP LOCKED;
    IF FOUND OR (SELECT count(*) FROM (SELECT 1 FROM deployments q WHERE q.status = 'queued'
                                         LIMIT 17) queued) <= 16 THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT d.id, d.environment_id, e.project_id, e.queue_policy
      FROM deployments d JOIN environments e ON e.id = d.environment_id
     WHERE d.status = 'queued'
       AND deployment_may_start(d, e, now())
       AND (SELECT count(*) FROM deployments r
             WHERE r.environment_id = d.environment_id AND r.status = 'running' COLLATE "C") < e.max_running
     ORDER BY d.created_at, d.id
     LIMIT 1
     FOR UPDATE OF d SKIP LOCKED;
END;
$$ LANGUAGE plpgsql;
