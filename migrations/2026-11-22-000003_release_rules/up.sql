-- The release rules, held in the database so that no path (a handler, a
-- script, two racing requests) can get round them.

-- What starts a deployment into an environment. The first environment's
-- default is 'on_release' (deploy as soon as a release is created).
ALTER TABLE environments ADD COLUMN trigger TEXT NOT NULL DEFAULT 'manual'
    CHECK (trigger IN ('manual', 'on_release'));
UPDATE environments e SET trigger = 'on_release'
 WHERE e.position = (SELECT min(position) FROM environments f WHERE f.project_id = e.project_id);

-- The environment a release was cut in. Rule 1 is about leaving it, and
-- this stays right when the pipeline is later reordered.
ALTER TABLE releases ADD COLUMN first_environment_id BIGINT REFERENCES environments (id);
UPDATE releases r SET first_environment_id = (
    SELECT e.id FROM environments e WHERE e.project_id = r.project_id ORDER BY e.position LIMIT 1);
ALTER TABLE releases ALTER COLUMN first_environment_id SET NOT NULL;

-- Who may do what where. Teams join in a later migration.
CREATE TABLE grants (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    environment_id BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'approver')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (user_id, environment_id, role)
);
CREATE INDEX grants_environment_idx ON grants (environment_id);

-- Rule 1: a release may be deleted only while it has not been deployed
-- beyond its first environment and nothing of it is queued or running.
CREATE FUNCTION releases_guard_delete() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM environment_releases er
                WHERE er.release_id = OLD.id AND er.environment_id <> OLD.first_environment_id) THEN
        RAISE EXCEPTION 'release % was promoted beyond its first environment and can never be deleted', OLD.version
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM deployments d
                WHERE d.release_id = OLD.id AND d.status IN ('queued', 'running')) THEN
        RAISE EXCEPTION 'release % has a deployment queued or running', OLD.version
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER releases_guard_delete BEFORE DELETE ON releases
    FOR EACH ROW EXECUTE FUNCTION releases_guard_delete();

-- History beyond the first environment is never deleted either.
CREATE FUNCTION promoted_history_guard_delete() RETURNS trigger AS $$
BEGIN
    IF OLD.environment_id <> (SELECT first_environment_id FROM releases WHERE id = OLD.release_id) THEN
        RAISE EXCEPTION '% of a promoted release can never be deleted', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER environment_releases_guard_delete BEFORE DELETE ON environment_releases
    FOR EACH ROW EXECUTE FUNCTION promoted_history_guard_delete();
CREATE TRIGGER deployments_guard_delete BEFORE DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION promoted_history_guard_delete();

-- TRUNCATE skips row triggers: refuse it outright on the guarded tables.
CREATE FUNCTION refuse_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % is not allowed', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER releases_no_truncate BEFORE TRUNCATE ON releases
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER environment_releases_no_truncate BEFORE TRUNCATE ON environment_releases
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER deployments_no_truncate BEFORE TRUNCATE ON deployments
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();

-- Rule 2: a release enters environment k only after it succeeded in k-1.
CREATE FUNCTION deployments_guard_order() RETURNS trigger AS $$
DECLARE
    target_position INTEGER;
    target_project BIGINT;
    previous_env BIGINT;
BEGIN
    SELECT position, project_id INTO target_position, target_project
      FROM environments WHERE id = NEW.environment_id;
    IF NEW.environment_id = (SELECT first_environment_id FROM releases WHERE id = NEW.release_id) THEN
        RETURN NEW;
    END IF;
    SELECT id INTO previous_env FROM environments
     WHERE project_id = target_project AND position < target_position
     ORDER BY position DESC LIMIT 1;
    IF previous_env IS NULL OR NOT EXISTS (
        SELECT 1 FROM deployments d
         WHERE d.release_id = NEW.release_id AND d.environment_id = previous_env AND d.status = 'succeeded') THEN
        RAISE EXCEPTION 'a release enters an environment only after it succeeded in the previous one'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_guard_order BEFORE INSERT ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_guard_order();

-- The life of a deployment only moves forward.
CREATE FUNCTION deployments_guard_status() RETURNS trigger AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT ((OLD.status = 'awaiting_approval' AND NEW.status IN ('queued', 'rejected', 'cancelled'))
         OR (OLD.status = 'queued' AND NEW.status IN ('running', 'cancelled'))
         OR (OLD.status = 'running' AND NEW.status IN ('succeeded', 'failed', 'cancelled'))) THEN
        RAISE EXCEPTION 'a deployment cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_guard_status BEFORE UPDATE OF status ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_guard_status();

-- One deployment at a time per environment (the default queue policy), and
-- one active attempt per release and environment (no double submits).
CREATE UNIQUE INDEX deployments_one_running_per_environment
    ON deployments (environment_id) WHERE status = 'running';
CREATE UNIQUE INDEX deployments_one_active_per_environment_release
    ON deployments (environment_release_id) WHERE status IN ('awaiting_approval', 'queued', 'running');

-- Release search and per-environment history.
CREATE INDEX deployments_release_environment_idx ON deployments (release_id, environment_id, created_at DESC, id DESC);
