-- Event webhooks for what issue 13 added: a deployment verifying, a
-- deployment waiting for a person at a manual step, a release blocked or
-- unblocked (by a person, or by Stagecoach after a failed verification).
-- A superseded deployment's `deployment.cancelled` names the newer one.
-- Queued by triggers, like the others, whichever path made the change.
ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_events_check;
ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_events_check
    CHECK (cardinality(events) > 0 AND events <@ ARRAY[
        'release.created', 'release.blocked', 'release.unblocked',
        'deployment.awaiting_approval', 'deployment.started', 'deployment.waiting_for_person',
        'deployment.verifying', 'deployment.succeeded', 'deployment.failed',
        'deployment.rejected', 'deployment.cancelled', 'freeze.override_used']::TEXT[]);

-- What every deployment event carries, for `event`.
CREATE FUNCTION deployment_event_data(d deployments) RETURNS JSONB AS $$
    SELECT jsonb_build_object(
        'project', p.slug, 'environment', e.slug, 'environment_name', e.name,
        'version', r.version, 'deployment_id', d.id, 'state', d.status,
        'attempt', d.attempt, 'note', d.note, 'rollback', d.is_rollback,
        'failed_verification', d.failed_verification,
        'superseded_by', d.superseded_by, 'path', '/deployments/' || d.id)
      FROM environments e JOIN projects p ON p.id = e.project_id
      JOIN releases r ON r.id = d.release_id
     WHERE e.id = d.environment_id
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION deployments_webhook() RETURNS trigger AS $$
DECLARE
    event TEXT;
    project BIGINT;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN
        RETURN NULL;
    END IF;
    event := CASE NEW.status
        WHEN 'awaiting_approval' THEN 'deployment.awaiting_approval'
        WHEN 'running' THEN 'deployment.started'
        WHEN 'succeeded' THEN 'deployment.succeeded'
        WHEN 'failed' THEN 'deployment.failed'
        WHEN 'rejected' THEN 'deployment.rejected'
        WHEN 'cancelled' THEN 'deployment.cancelled'
    END;
    IF event IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT e.project_id INTO project FROM environments e WHERE e.id = NEW.environment_id;
    IF EXISTS (SELECT 1 FROM webhook_subscriptions WHERE project_id = project AND active AND event = ANY (events)) THEN
        PERFORM webhooks_enqueue(project, event, deployment_event_data(NEW));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION deployments_verifying_webhook() RETURNS trigger AS $$
DECLARE
    project BIGINT;
BEGIN
    SELECT e.project_id INTO project FROM environments e WHERE e.id = NEW.environment_id;
    IF EXISTS (SELECT 1 FROM webhook_subscriptions
                WHERE project_id = project AND active AND 'deployment.verifying' = ANY (events)) THEN
        PERFORM webhooks_enqueue(project, 'deployment.verifying', deployment_event_data(NEW));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_verifying_webhook AFTER UPDATE OF verifying_since ON deployments
    FOR EACH ROW WHEN (OLD.verifying_since IS NULL AND NEW.verifying_since IS NOT NULL)
    EXECUTE FUNCTION deployments_verifying_webhook();

CREATE FUNCTION deployment_steps_manual_webhook() RETURNS trigger AS $$
DECLARE
    d deployments;
    project BIGINT;
BEGIN
    SELECT * INTO d FROM deployments WHERE id = NEW.deployment_id;
    SELECT e.project_id INTO project FROM environments e WHERE e.id = d.environment_id;
    IF EXISTS (SELECT 1 FROM webhook_subscriptions
                WHERE project_id = project AND active AND 'deployment.waiting_for_person' = ANY (events)) THEN
        PERFORM webhooks_enqueue(project, 'deployment.waiting_for_person',
            deployment_event_data(d) || jsonb_build_object(
                'step', NEW.name, 'position', NEW.position, 'instructions', NEW.instructions));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployment_steps_manual_webhook AFTER UPDATE OF status ON deployment_steps
    FOR EACH ROW WHEN (NEW.kind = 'manual' AND NEW.status = 'running' AND OLD.status <> 'running')
    EXECUTE FUNCTION deployment_steps_manual_webhook();

CREATE FUNCTION release_blocks_webhook() RETURNS trigger AS $$
DECLARE
    b release_blocks;
    event TEXT;
    project BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        b := NEW;
        event := 'release.blocked';
    ELSE
        b := OLD;
        event := 'release.unblocked';
    END IF;
    SELECT r.project_id INTO project FROM releases r WHERE r.id = b.release_id;
    IF EXISTS (SELECT 1 FROM webhook_subscriptions
                WHERE project_id = project AND active AND event = ANY (events)) THEN
        PERFORM webhooks_enqueue(project, event, (
            SELECT jsonb_build_object(
                'project', p.slug, 'version', r.version, 'title', r.title, 'reason', b.reason,
                'blocked_by', coalesce((SELECT u.display_name FROM users u WHERE u.id = b.blocked_by), 'Stagecoach'),
                'path', '/projects/' || p.slug || '/releases/' || r.version)
              FROM releases r JOIN projects p ON p.id = r.project_id
             WHERE r.id = b.release_id));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER release_blocks_webhook AFTER INSERT OR DELETE ON release_blocks
    FOR EACH ROW EXECUTE FUNCTION release_blocks_webhook();
