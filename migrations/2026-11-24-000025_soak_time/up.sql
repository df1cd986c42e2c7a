-- Soak time: an environment may require that a release succeeded in the
-- previous environment at least this many minutes ago before a deployment
-- of it starts here. Held where every start is checked
-- (deployment_may_start: the workers' claim and the start guard), so no
-- path starts one early; the request sets not_before to when it may.
ALTER TABLE environments
    ADD COLUMN soak_minutes INTEGER NOT NULL DEFAULT 0 CHECK (soak_minutes BETWEEN 0 AND 10080);

-- When a deployment `d` into `e` has soaked enough: its release's first
-- success in the environment before `e`, plus the soak time (NULL: no
-- soak here, or `e` is where the release entered).
CREATE FUNCTION deployment_soaked_at(d deployments, e environments) RETURNS TIMESTAMPTZ AS $$
    SELECT CASE
        WHEN e.soak_minutes = 0 THEN NULL
        WHEN d.environment_id = (SELECT r.first_environment_id FROM releases r WHERE r.id = d.release_id) THEN NULL
        ELSE coalesce((
            SELECT min(p.finished_at) FROM deployments p
             WHERE p.release_id = d.release_id AND p.status = 'succeeded'
               AND p.environment_id = (
                   SELECT pe.id FROM environments pe
                    WHERE pe.project_id = e.project_id AND pe.position < e.position
                    ORDER BY pe.position DESC LIMIT 1)
        ), 'infinity'::timestamptz) + make_interval(mins => e.soak_minutes)
    END
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION deployment_may_start(d deployments, e environments, at TIMESTAMPTZ) RETURNS BOOLEAN AS $$
    SELECT (d.not_before IS NULL OR d.not_before <= at)
       AND (d.override_confirmed_by IS NOT NULL
            OR (environment_window_open(e, at) AND environment_freeze(e, at) IS NULL))
       AND (e.soak_minutes = 0 OR coalesce(deployment_soaked_at(d, e) <= at, true))
$$ LANGUAGE sql STABLE;
