-- Event webhooks (issue 12): a project's subscriptions, and deliveries
-- queued by triggers in the same transaction as the event, whichever path
-- made it; the workers send them, signed per Standard Webhooks.

CREATE TABLE webhook_subscriptions (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url TEXT NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    events TEXT[] NOT NULL CHECK (cardinality(events) > 0 AND events <@ ARRAY[
        'release.created', 'deployment.awaiting_approval', 'deployment.started',
        'deployment.succeeded', 'deployment.failed', 'deployment.rejected',
        'deployment.cancelled', 'freeze.override_used']::TEXT[]),
    -- 'standard' (Standard Webhooks JSON) or 'slack' ({"text": ...}).
    format TEXT NOT NULL DEFAULT 'standard' CHECK (format IN ('standard', 'slack')),
    -- The signing secret, sealed like secret variables.
    secret BYTEA NOT NULL,
    active BOOLEAN NOT NULL DEFAULT true,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_project_idx ON webhook_subscriptions (project_id);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    subscription_id BIGINT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- The Standard Webhooks message id: the same for every attempt.
    message_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    payload JSONB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A sender holds a delivery until this while it sends (a dead sender's
    -- hold runs out and another sends it: at least once).
    locked_until TIMESTAMPTZ,
    last_status_code INTEGER,
    last_response TEXT,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription_id, created_at DESC, id DESC);

-- Queues one delivery per active subscription of the project to the event.
CREATE FUNCTION webhooks_enqueue(p_project BIGINT, p_event TEXT, p_data JSONB) RETURNS void AS $$
BEGIN
    INSERT INTO webhook_deliveries (subscription_id, message_id, event, payload)
    SELECT s.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), p_event,
           jsonb_build_object('type', p_event, 'timestamp', now(), 'data', p_data)
      FROM webhook_subscriptions s
     WHERE s.project_id = p_project AND s.active AND p_event = ANY (s.events);
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION releases_webhook() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_subscriptions WHERE project_id = NEW.project_id AND active) THEN
        PERFORM webhooks_enqueue(NEW.project_id, 'release.created', jsonb_build_object(
            'project', (SELECT slug FROM projects WHERE id = NEW.project_id),
            'version', NEW.version, 'title', NEW.title,
            'path', '/projects/' || (SELECT slug FROM projects WHERE id = NEW.project_id) || '/releases/' || NEW.version));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER releases_webhook AFTER INSERT ON releases
    FOR EACH ROW EXECUTE FUNCTION releases_webhook();

CREATE FUNCTION deployments_webhook() RETURNS trigger AS $$
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
CREATE TRIGGER deployments_webhook AFTER INSERT OR UPDATE OF status ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_webhook();

-- A break-glass override used: when its second person confirms it.
CREATE FUNCTION deployments_override_webhook() RETURNS trigger AS $$
DECLARE
    project BIGINT;
BEGIN
    IF NEW.override_confirmed_by IS NOT NULL AND OLD.override_confirmed_by IS NULL THEN
        SELECT e.project_id INTO project FROM environments e WHERE e.id = NEW.environment_id;
        IF EXISTS (SELECT 1 FROM webhook_subscriptions WHERE project_id = project AND active) THEN
            PERFORM webhooks_enqueue(project, 'freeze.override_used', (
                SELECT jsonb_build_object(
                    'project', p.slug, 'environment', e.slug, 'environment_name', e.name,
                    'version', r.version, 'deployment_id', NEW.id, 'reason', NEW.override_reason,
                    'path', '/deployments/' || NEW.id)
                  FROM environments e JOIN projects p ON p.id = e.project_id
                  JOIN releases r ON r.id = NEW.release_id
                 WHERE e.id = NEW.environment_id));
        END IF;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_override_webhook AFTER UPDATE OF override_confirmed_by ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_override_webhook();
