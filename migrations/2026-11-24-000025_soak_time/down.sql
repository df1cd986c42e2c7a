CREATE OR REPLACE FUNCTION deployment_may_start(d deployments, e environments, at TIMESTAMPTZ) RETURNS BOOLEAN AS $$
    SELECT (d.not_before IS NULL OR d.not_before <= at)
       AND (d.override_confirmed_by IS NOT NULL
            OR (environment_window_open(e, at) AND environment_freeze(e, at) IS NULL))
$$ LANGUAGE sql STABLE;
DROP FUNCTION deployment_soaked_at(deployments, environments);
ALTER TABLE environments DROP COLUMN soak_minutes;
