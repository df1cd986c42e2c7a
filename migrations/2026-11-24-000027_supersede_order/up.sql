-- Supersede, both ways: where an environment supersedes, an older
-- release may not be requested while a newer one waits for approval or is
-- queued there (it would run after it, or beside it). Requests into such
-- an environment take the environment row before they insert, so of two
-- racing ones the second sees the first: a newer one supersedes an older
-- one, an older one is refused behind a newer one.
CREATE FUNCTION deployments_guard_superseded() RETURNS trigger AS $$
DECLARE
    newer_version TEXT;
BEGIN
    PERFORM 1 FROM environments WHERE id = NEW.environment_id AND supersede FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    SELECT r.version INTO newer_version
      FROM deployments d
      JOIN releases r ON r.id = d.release_id
      JOIN releases mine ON mine.id = NEW.release_id
     WHERE d.environment_id = NEW.environment_id
       AND d.status IN ('awaiting_approval', 'queued')
       AND (r.created_at, r.id) > (mine.created_at, mine.id)
     LIMIT 1;
    IF newer_version IS NOT NULL THEN
        RAISE EXCEPTION 'release % waits in environment % and supersedes older ones', newer_version, NEW.environment_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'deployments_superseded_by_newer';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_guard_superseded BEFORE INSERT ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_guard_superseded();
