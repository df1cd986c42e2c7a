-- Supersede: where an environment's policy says so, a deployment of a
-- newer release requested there cancels the deployments of older releases
-- still waiting for approval or queued there, each marked with the one
-- that superseded it and audited. Held by a trigger, so every path that
-- asks for a deployment (a person, a chain, an automatic promotion, the
-- API) supersedes alike, in the same transaction.
ALTER TABLE environments ADD COLUMN supersede BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE deployments
    ADD COLUMN superseded_by BIGINT REFERENCES deployments (id) ON DELETE SET NULL,
    ADD CONSTRAINT deployments_superseded_is_cancelled
        CHECK (superseded_by IS NULL OR status = 'cancelled');

CREATE FUNCTION deployments_supersede_older() RETURNS trigger AS $$
DECLARE
    newer releases%ROWTYPE;
    gone RECORD;
BEGIN
    -- Requests into one such environment take turns, so two racing ones
    -- see each other and the older release's always gives way.
    PERFORM 1 FROM environments WHERE id = NEW.environment_id AND supersede FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO newer FROM releases WHERE id = NEW.release_id;
    FOR gone IN
        UPDATE deployments d
           SET status = 'cancelled', finished_at = now(), superseded_by = NEW.id,
               note = 'Superseded by ' || newer.version || ' (#' || NEW.id || ').'
          FROM releases r
         WHERE d.environment_id = NEW.environment_id
           AND d.id <> NEW.id
           AND d.status IN ('awaiting_approval', 'queued')
           AND r.id = d.release_id
           AND (r.created_at, r.id) < (newer.created_at, newer.id)
        RETURNING d.id, r.version
    LOOP
        INSERT INTO audit_events (actor_id, actor_name, action, object_type, object_id, project_id, details)
        SELECT NULL, 'system', 'deployment.superseded', 'deployment', gone.id::text, e.project_id,
               jsonb_build_object('release', gone.version, 'by', NEW.id, 'by_release', newer.version)
          FROM environments e WHERE e.id = NEW.environment_id;
    END LOOP;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_supersede_older AFTER INSERT ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_supersede_older();
