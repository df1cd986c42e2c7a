-- The worker's claim asks for the oldest queued deployment that may start,
-- and, for each candidate, how many already run in its environment (so
-- does the start guard). Both were answered by reading every active row of
-- the queue: with 1,000 deployments queued, each claim read all of them.
-- Each question now has an index over exactly its rows.
CREATE INDEX deployments_queued_idx ON deployments (created_at, id) WHERE status = 'queued';
CREATE INDEX deployments_running_environment_idx ON deployments (environment_id) WHERE status = 'running';

-- The claim's choice: the oldest queued deployment that may start now
-- (deployment_may_start) in an environment below its limit, locked; or
-- none. The `oldest` queued deployments are looked at first, so the checks
-- run for those only, whatever the queue's length; only when none of them
-- may start (held by a window, a freeze, a not-before time or a full
-- environment) and more are queued is the whole queue looked at.
-- The first query is written so that no planner statistics can turn it
-- back into a scan of the whole queue (a queue filled since the last
-- ANALYZE looks empty to the planner): the ids come from
-- deployments_queued_idx, in order, and are fetched by primary key; the
-- row's status is checked on the row (`IS TRUE` keeps it from being used
-- to pick an index), and checked again on the locked row, as before.
-- A function, so its plans are prepared once per connection: sent as
-- text, this query took longer to plan than to run.
CREATE FUNCTION deployment_claim_candidate(oldest INTEGER)
RETURNS TABLE (id BIGINT, environment_id BIGINT, project_id BIGINT, queue_policy TEXT) AS $$
BEGIN
    RETURN QUERY
    SELECT d.id, d.environment_id, e.project_id, e.queue_policy
      FROM deployments d JOIN environments e ON e.id = d.environment_id
     WHERE d.id = ANY (ARRAY(SELECT q.id FROM deployments q WHERE q.status = 'queued'
                              ORDER BY q.created_at, q.id LIMIT oldest))
       AND (d.status = 'queued') IS TRUE
       AND deployment_may_start(d, e, now())
       AND (SELECT count(*) FROM deployments r
             WHERE r.environment_id = d.environment_id AND r.status = 'running') < e.max_running
     ORDER BY d.created_at, d.id
     LIMIT 1
     FOR UPDATE OF d SKIP LOCKED;
    IF FOUND OR (SELECT count(*) FROM (SELECT 1 FROM deployments q WHERE q.status = 'queued'
                                         LIMIT oldest + 1) queued) <= oldest THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT d.id, d.environment_id, e.project_id, e.queue_policy
      FROM deployments d JOIN environments e ON e.id = d.environment_id
     WHERE d.status = 'queued'
       AND deployment_may_start(d, e, now())
       AND (SELECT count(*) FROM deployments r
             WHERE r.environment_id = d.environment_id AND r.status = 'running') < e.max_running
     ORDER BY d.created_at, d.id
     LIMIT 1
     FOR UPDATE OF d SKIP LOCKED;
END;
$$ LANGUAGE plpgsql;
