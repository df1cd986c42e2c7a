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

CREATE OR REPLACE FUNCTION users_keep_an_admin() RETURNS trigger AS $$
BEGIN
    IF OLD.is_admin AND NOT OLD.disabled AND (NOT NEW.is_admin OR NEW.disabled) THEN
        PERFORM pg_advisory_xact_lock(7431003);
        IF NOT EXISTS (SELECT 1 FROM users WHERE id <> OLD.id AND is_admin AND NOT disabled) THEN
            RAISE EXCEPTION 'the last active administrator cannot be disabled or demoted'
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
