-- "Do not promote": a release blocked with a reason enters no environment
-- it has not already succeeded in, by any path, until it is unblocked.
-- One row while the block holds; the audit trail keeps every block and
-- unblock.
CREATE TABLE release_blocks (
    release_id BIGINT PRIMARY KEY REFERENCES releases (id) ON DELETE CASCADE,
    reason TEXT NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    blocked_by BIGINT NOT NULL REFERENCES users (id),
    blocked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A deployment of a blocked release is refused where the release has not
-- succeeded before: on insert, and when one waiting for approval would be
-- queued. The insert first waits for a block being made on the release
-- (blocking takes the release row FOR UPDATE, and cancels what is active
-- in the same transaction), so the two never both pass.
CREATE FUNCTION deployments_guard_blocked() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM 1 FROM releases WHERE id = NEW.release_id FOR KEY SHARE;
    END IF;
    IF EXISTS (SELECT 1 FROM release_blocks WHERE release_id = NEW.release_id)
       AND NOT EXISTS (
           SELECT 1 FROM deployments d
            WHERE d.release_id = NEW.release_id AND d.environment_id = NEW.environment_id
              AND d.status = 'succeeded') THEN
        RAISE EXCEPTION 'release % is blocked from entering environment %', NEW.release_id, NEW.environment_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'release_blocked';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_guard_blocked_insert BEFORE INSERT ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_guard_blocked();
CREATE TRIGGER deployments_guard_blocked_queue BEFORE UPDATE OF status ON deployments
    FOR EACH ROW WHEN (OLD.status = 'awaiting_approval' AND NEW.status = 'queued')
    EXECUTE FUNCTION deployments_guard_blocked();
