ALTER TABLE deployments DROP CONSTRAINT deployments_override_two_people,
    DROP COLUMN override_reason, DROP COLUMN override_requested_by, DROP COLUMN override_confirmed_by;
DROP FUNCTION environment_freeze(environments, TIMESTAMPTZ);
DROP TABLE freezes;
