DROP TRIGGER deployments_notify_changed ON deployments;
DROP FUNCTION deployments_notify_changed();
