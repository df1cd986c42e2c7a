DROP TRIGGER release_blocks_webhook ON release_blocks;
DROP FUNCTION release_blocks_webhook();
DROP TRIGGER deployment_steps_manual_webhook ON deployment_steps;
DROP FUNCTION deployment_steps_manual_webhook();
DROP TRIGGER deployments_verifying_webhook ON deployments;
DROP FUNCTION deployments_verifying_webhook();
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
        PERFORM webhooks_enqueue(project, event, (
            SELECT jsonb_build_object(
                'project', p.slug, 'environment', e.slug, 'environment_name', e.name,
                'version', r.version, 'deployment_id', NEW.id, 'state', NEW.status,
                'attempt', NEW.attempt, 'note', NEW.note, 'path', '/deployments/' || NEW.id)
              FROM environments e JOIN projects p ON p.id = e.project_id
              JOIN releases r ON r.id = NEW.release_id
             WHERE e.id = NEW.environment_id));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP FUNCTION deployment_event_data(deployments);
UPDATE webhook_subscriptions
   SET events = array(SELECT unnest(events) EXCEPT SELECT unnest(ARRAY['release.blocked', 'release.unblocked', 'deployment.waiting_for_person', 'deployment.verifying']));
DELETE FROM webhook_subscriptions WHERE cardinality(events) = 0;
ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_events_check;
ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_events_check
    CHECK (cardinality(events) > 0 AND events <@ ARRAY[
        'release.created', 'deployment.awaiting_approval', 'deployment.started',
        'deployment.succeeded', 'deployment.failed', 'deployment.rejected',
        'deployment.cancelled', 'freeze.override_used']::TEXT[]);
