-- Rule 3 held in the database: every deployment records why it exists,
-- and nobody can put a release where they may not deploy, or approve what
-- they asked for, whatever path reaches the table.
--
-- cause: 'person' - someone asked (deploy, promote, redeploy, roll back,
--                   or a step of their "as far as" chain: requested_by is
--                   the chain's originator);
--        'on_release', 'after_previous', 'schedule' - the environment's
--                   own trigger started it;
--        'unrecorded' - rows written before causes were recorded.

ALTER TABLE deployments
    ADD COLUMN cause TEXT NOT NULL DEFAULT 'person'
        CHECK (cause IN ('person', 'on_release', 'after_previous', 'schedule', 'unrecorded'));
UPDATE deployments SET cause = 'unrecorded' WHERE requested_by IS NULL;
ALTER TABLE deployments
    ADD CONSTRAINT deployments_person_is_named CHECK (cause <> 'person' OR requested_by IS NOT NULL);

-- Whether a user holds `wanted` on an environment: directly or through a
-- team; administrators hold every role; disabled users hold none. The rows
-- that grant it are share-locked, so a revocation racing a deployment
-- waits for it instead of passing unseen.
CREATE FUNCTION user_holds_role(uid BIGINT, env BIGINT, wanted TEXT) RETURNS BOOLEAN AS $$
DECLARE
    admin BOOLEAN;
BEGIN
    SELECT u.is_admin INTO admin FROM users u WHERE u.id = uid AND NOT u.disabled FOR SHARE;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    IF admin THEN
        RETURN TRUE;
    END IF;
    PERFORM 1 FROM grants g
      WHERE g.environment_id = env AND g.role = wanted
        AND (g.user_id = uid
             OR g.team_id IN (SELECT m.team_id FROM team_members m WHERE m.user_id = uid))
      FOR SHARE OF g;
    RETURN FOUND;
END;
$$ LANGUAGE plpgsql;

-- A deployment exists only if its person may deploy there, or the
-- environment's own trigger is what started it.
CREATE FUNCTION deployments_guard_origin() RETURNS trigger AS $$
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
CREATE TRIGGER deployments_guard_origin BEFORE INSERT ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_guard_origin();

-- Approvals: only an approver of the environment decides, and the person
-- who asked for a deployment never approves it where self-approval is off.
CREATE FUNCTION approvals_guard_approver() RETURNS trigger AS $$
DECLARE
    requester BIGINT;
    env_id BIGINT;
    allow_self BOOLEAN;
BEGIN
    SELECT d.requested_by, d.environment_id, e.allow_self_approval
      INTO requester, env_id, allow_self
      FROM deployments d JOIN environments e ON e.id = d.environment_id
     WHERE d.id = NEW.deployment_id;
    IF NOT user_holds_role(NEW.approver_id, env_id, 'approver') THEN
        RAISE EXCEPTION 'user % holds no approver role on environment %', NEW.approver_id, env_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_approver_holds_role';
    END IF;
    IF NEW.decision IN ('approve', 'defer') AND requester = NEW.approver_id AND NOT allow_self THEN
        RAISE EXCEPTION 'user % asked for deployment % and may not approve it', NEW.approver_id, NEW.deployment_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_not_by_requester';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER approvals_guard_approver BEFORE INSERT ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_guard_approver();

-- Break-glass is asked for and confirmed by approvers of the environment.
CREATE FUNCTION deployments_guard_override() RETURNS trigger AS $$
BEGIN
    IF NEW.override_requested_by IS NOT NULL
       AND NEW.override_requested_by IS DISTINCT FROM OLD.override_requested_by
       AND NOT user_holds_role(NEW.override_requested_by, NEW.environment_id, 'approver') THEN
        RAISE EXCEPTION 'user % holds no approver role here', NEW.override_requested_by
            USING ERRCODE = 'check_violation', CONSTRAINT = 'deployments_override_by_approvers';
    END IF;
    IF NEW.override_confirmed_by IS NOT NULL
       AND NEW.override_confirmed_by IS DISTINCT FROM OLD.override_confirmed_by
       AND NOT user_holds_role(NEW.override_confirmed_by, NEW.environment_id, 'approver') THEN
        RAISE EXCEPTION 'user % holds no approver role here', NEW.override_confirmed_by
            USING ERRCODE = 'check_violation', CONSTRAINT = 'deployments_override_by_approvers';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_guard_override BEFORE UPDATE OF override_requested_by, override_confirmed_by ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_guard_override();

-- Whether a queued deployment may start at an instant: its not-before time
-- has come, and the environment is open and not frozen, unless this very
-- deployment carries a confirmed break-glass override. The worker's claim
-- and the trigger below ask the same question.
CREATE FUNCTION deployment_may_start(d deployments, e environments, at TIMESTAMPTZ) RETURNS BOOLEAN AS $$
    SELECT (d.not_before IS NULL OR d.not_before <= at)
       AND (d.override_confirmed_by IS NOT NULL
            OR (environment_window_open(e, at) AND environment_freeze(e, at) IS NULL))
$$ LANGUAGE sql STABLE;

CREATE FUNCTION deployments_guard_start() RETURNS trigger AS $$
DECLARE
    env environments;
BEGIN
    IF NEW.status = 'running' AND OLD.status <> 'running' THEN
        SELECT * INTO env FROM environments WHERE id = NEW.environment_id;
        IF NOT deployment_may_start(NEW, env, now()) THEN
            RAISE EXCEPTION 'deployment % may not start now: not before its time, outside the window or frozen', NEW.id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'deployments_start_allowed';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_guard_start BEFORE UPDATE OF status ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_guard_start();
