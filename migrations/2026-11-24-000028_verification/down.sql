CREATE OR REPLACE FUNCTION deployments_guard_origin() RETURNS trigger AS $$
DECLARE
    env environments;
BEGIN
    SELECT * INTO env FROM environments WHERE id = NEW.environment_id;
    IF NEW.requested_by IS NOT NULL
       AND NOT user_holds_role(NEW.requested_by, NEW.environment_id, 'deployer') THEN
        RAISE EXCEPTION 'user % holds no deployer role on environment %', NEW.requested_by, env.name
            USING ERRCODE = 'check_violation', CONSTRAINT = 'deployments_requester_may_deploy';
    END IF;
    IF (NEW.cause = 'after_previous' AND env.trigger <> 'after_previous')
       OR (NEW.cause = 'schedule' AND env.trigger <> 'scheduled')
       OR (NEW.cause = 'on_release' AND (env.trigger <> 'on_release'
            OR NEW.environment_id <> (SELECT first_environment_id FROM releases WHERE id = NEW.release_id)))
       OR NEW.cause = 'unrecorded' THEN
        RAISE EXCEPTION 'environment % does not start deployments by %', env.name, NEW.cause
            USING ERRCODE = 'check_violation', CONSTRAINT = 'deployments_cause_matches_policy';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DELETE FROM deployments WHERE cause = 'verification';
ALTER TABLE deployments DROP CONSTRAINT deployments_cause_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_cause_check
    CHECK (cause IN ('person', 'on_release', 'after_previous', 'schedule', 'unrecorded'));
DELETE FROM release_blocks WHERE blocked_by IS NULL;
ALTER TABLE release_blocks ALTER COLUMN blocked_by SET NOT NULL;
ALTER TABLE deployments
    DROP CONSTRAINT deployments_failed_verification_is_failed,
    DROP CONSTRAINT deployments_verifying_while_running,
    DROP COLUMN failed_verification,
    DROP COLUMN verifying_since;
ALTER TABLE environments DROP COLUMN rollback_on_failed_verification;
DROP TABLE checks;
