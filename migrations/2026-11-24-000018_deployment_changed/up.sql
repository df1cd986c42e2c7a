-- Every change of a deployment's status is announced with its id when the
-- changing transaction commits, whichever path made it (a form, the API, a
-- worker, a chain, a trigger): the API's long poll waits on it.
CREATE FUNCTION deployments_notify_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('deployment_changed', NEW.id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_notify_changed AFTER UPDATE OF status ON deployments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION deployments_notify_changed();
