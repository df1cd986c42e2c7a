DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE login_attempts;
DROP TABLE sessions;
DROP TRIGGER users_end_sessions ON users;
DROP FUNCTION users_end_sessions();
DROP TABLE users;
