DROP TRIGGER deployments_guard_superseded ON deployments;
DROP FUNCTION deployments_guard_superseded();
