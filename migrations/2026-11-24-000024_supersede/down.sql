DROP TRIGGER deployments_supersede_older ON deployments;
DROP FUNCTION deployments_supersede_older();
ALTER TABLE deployments DROP CONSTRAINT deployments_superseded_is_cancelled, DROP COLUMN superseded_by;
ALTER TABLE environments DROP COLUMN supersede;
