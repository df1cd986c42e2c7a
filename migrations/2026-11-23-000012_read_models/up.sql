-- Reads that cost the same whatever the history: each question a page asks
-- is answered by an index with a bounded read, or by a small table kept
-- current in the same transaction as the change.

-- Release search (ILIKE '%…%' on version and title) by trigram index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX releases_search_idx ON releases USING gin (version gin_trgm_ops, title gin_trgm_ops);

-- What is live in an environment: its newest successful deployment, one
-- index entry away (LATERAL … LIMIT 1 per environment).
CREATE INDEX deployments_succeeded_idx ON deployments (environment_id, finished_at DESC NULLS LAST, id DESC)
    WHERE status = 'succeeded';

-- What waits or runs in an environment, oldest first.
CREATE INDEX deployments_active_environment_idx ON deployments (environment_id, created_at, id)
    WHERE status IN ('awaiting_approval', 'queued', 'running');

-- The audit page filtered by action, newest first, keyset-paginated.
CREATE INDEX audit_events_action_idx ON audit_events (action, at DESC, id DESC);

-- The audit filter's choice of actions: every action ever recorded, kept by
-- the insert that records it instead of a DISTINCT over the whole trail.
CREATE TABLE audit_actions (action TEXT PRIMARY KEY);
INSERT INTO audit_actions SELECT DISTINCT action FROM audit_events;
CREATE FUNCTION audit_events_note_action() RETURNS trigger AS $$
BEGIN
    INSERT INTO audit_actions (action) VALUES (NEW.action) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_note_action AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_note_action();

-- Idle workers start a queued deployment at once: the queuing transaction
-- announces it when it commits (workers LISTEN; polling is the fallback).
CREATE FUNCTION deployments_notify_queued() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('deployments_queued', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_notify_queued AFTER INSERT OR UPDATE OF status ON deployments
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION deployments_notify_queued();
