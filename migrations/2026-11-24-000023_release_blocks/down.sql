DROP TRIGGER deployments_guard_blocked_queue ON deployments;
DROP TRIGGER deployments_guard_blocked_insert ON deployments;
DROP FUNCTION deployments_guard_blocked();
DROP TABLE release_blocks;
