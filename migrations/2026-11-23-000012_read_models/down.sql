DROP TRIGGER deployments_notify_queued ON deployments;
DROP FUNCTION deployments_notify_queued();
DROP TRIGGER audit_events_note_action ON audit_events;
DROP FUNCTION audit_events_note_action();
DROP TABLE audit_actions;
DROP INDEX audit_events_action_idx;
DROP INDEX deployments_active_environment_idx;
DROP INDEX deployments_succeeded_idx;
DROP INDEX releases_search_idx;
