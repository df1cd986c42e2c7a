DROP FUNCTION deployment_claim_candidate();
CREATE OR REPLACE FUNCTION deployments_guard_running() RETURNS trigger AS $$
DECLARE
    limit_running INTEGER;
BEGIN
    IF NEW.status = 'running' AND OLD.status <> 'running' THEN
        SELECT max_running INTO limit_running FROM environments WHERE id = NEW.environment_id FOR UPDATE;
        IF (SELECT count(*) FROM deployments
             WHERE environment_id = NEW.environment_id AND status = 'running' AND id <> NEW.id) >= limit_running THEN
            RAISE EXCEPTION 'environment % already runs % deployment(s)', NEW.environment_id, limit_running
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP INDEX deployments_running_environment_idx;
DROP INDEX deployments_queued_idx;
