-- Verification: after its steps succeed, a deployment runs its
-- environment's checks (snapshotted with the release, like steps) until all
-- pass together or the time runs out. While they run it is still `running`
-- to every rule that counts running deployments (one at a time, leases,
-- reaping, cancelling): `verifying_since` says it has moved on to its
-- checks, and pages and the API show it as "verifying".
CREATE TABLE checks (
    id BIGSERIAL PRIMARY KEY,
    environment_id BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('http', 'script')),
    name TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    -- http: the URL (may name the release's variables as ${NAME}), the
    -- status wanted and text the body must hold ('' for none).
    url TEXT,
    expect_status INTEGER NOT NULL DEFAULT 200 CHECK (expect_status BETWEEN 100 AND 599),
    expect_text TEXT NOT NULL DEFAULT '' CHECK (length(expect_text) <= 1000),
    -- script: healthy when it exits 0.
    script TEXT NOT NULL DEFAULT '' CHECK (length(script) <= 100000),
    interval_seconds INTEGER NOT NULL DEFAULT 10 CHECK (interval_seconds BETWEEN 1 AND 3600),
    -- How long to keep trying before the check, and so the deployment, fails.
    within_seconds INTEGER NOT NULL DEFAULT 300 CHECK (within_seconds BETWEEN 1 AND 86400),
    CONSTRAINT checks_http_has_url CHECK ((kind = 'http') = (url IS NOT NULL)),
    CONSTRAINT checks_script_has_script CHECK (kind <> 'script' OR length(btrim(script)) > 0),
    UNIQUE (environment_id, position)
);

ALTER TABLE environments
    ADD COLUMN rollback_on_failed_verification BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE deployments
    ADD COLUMN verifying_since TIMESTAMPTZ,
    -- Its checks did not all pass in time.
    ADD COLUMN failed_verification BOOLEAN NOT NULL DEFAULT false,
    ADD CONSTRAINT deployments_verifying_while_running
        CHECK (verifying_since IS NULL OR started_at IS NOT NULL),
    ADD CONSTRAINT deployments_failed_verification_is_failed
        CHECK (NOT failed_verification OR status = 'failed');

-- A release that failed verification is blocked by Stagecoach itself
-- (blocked_by NULL): it goes nowhere new until a person unblocks it.
ALTER TABLE release_blocks ALTER COLUMN blocked_by DROP NOT NULL;

-- A new cause: the automatic rollback after a failed verification, allowed
-- only where the environment's policy asks for it, and only as a rollback.
ALTER TABLE deployments DROP CONSTRAINT deployments_cause_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_cause_check
    CHECK (cause IN ('person', 'on_release', 'after_previous', 'schedule', 'verification', 'unrecorded'));

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
       OR (NEW.cause = 'verification' AND NOT (env.rollback_on_failed_verification AND NEW.is_rollback))
       OR NEW.cause = 'unrecorded' THEN
        RAISE EXCEPTION 'environment % does not start deployments by %', env.name, NEW.cause
            USING ERRCODE = 'check_violation', CONSTRAINT = 'deployments_cause_matches_policy';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
