-- Fixtures for bench/run's write and worker measurements, loaded into the
-- benchmark's private database (never into one in service). Each call makes
-- releases in the state a measurement needs, set-based and through the
-- app's triggers (rule 2, origin, approvals): releases that succeeded in
-- Development for "deploy", releases waiting for approval in Production
-- for "approve", queued deployments with no steps for the workers.
-- Fixtures are not history: they write no audit rows, so every audit row
-- counted after a measurement was written by the requests measured.

CREATE SCHEMA IF NOT EXISTS bench;

-- The pipeline as `Snapshot::take` records it: environments with their
-- steps and variables.
CREATE OR REPLACE FUNCTION bench.snapshot(p_project BIGINT) RETURNS JSONB LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('environments', coalesce((
         SELECT jsonb_agg(jsonb_build_object(
                  'id', e.id, 'slug', e.slug, 'name', e.name, 'position', e.position, 'url', e.url,
                  'steps', coalesce((SELECT jsonb_agg(jsonb_build_object(
                              'id', s.id, 'environment_id', s.environment_id, 'position', s.position,
                              'kind', s.kind, 'name', s.name, 'script', s.script, 'url', s.url,
                              'timeout_seconds', s.timeout_seconds, 'retries', s.retries) ORDER BY s.position)
                             FROM steps s WHERE s.environment_id = e.id), '[]'::jsonb),
                  'variables', coalesce((SELECT jsonb_agg(jsonb_build_object(
                              'id', v.id, 'environment_id', v.environment_id, 'name', v.name,
                              'secret', v.secret, 'value', v.value, 'encrypted', NULL) ORDER BY v.name)
                             FROM variables v WHERE v.environment_id = e.id), '[]'::jsonb))
                ORDER BY e.position)
           FROM environments e WHERE e.project_id = p_project), '[]'::jsonb))
$$;

-- p_count releases of p_project named p_prefix || 1..p_count, by p_actor
-- (who must hold the deployer role where they are deployed), each with one
-- succeeded deployment in each of the first p_succeeded environments of the
-- pipeline, then, in the next environment, a deployment in p_then
-- ('queued', 'awaiting_approval') or none (NULL). Returns the releases made.
CREATE OR REPLACE FUNCTION bench.make_releases(p_project BIGINT, p_prefix TEXT, p_count INT,
                                               p_actor BIGINT, p_succeeded INT, p_then TEXT)
RETURNS TABLE (release_id BIGINT, version TEXT) LANGUAGE plpgsql AS $f$
DECLARE
    stage INT;
    env RECORD;
    first_env BIGINT;
BEGIN
    SELECT e.id INTO first_env FROM environments e WHERE e.project_id = p_project ORDER BY e.position LIMIT 1;
    CREATE TEMP TABLE IF NOT EXISTS bench_made (release_id BIGINT PRIMARY KEY, version TEXT) ON COMMIT DROP;
    TRUNCATE bench_made;
    WITH made AS (
        INSERT INTO releases (project_id, version, title, description, snapshot, created_by, first_environment_id)
        SELECT p_project, p_prefix || g.n, 'Benchmark fixture ' || g.n, 'Made by bench/fixtures.sql.',
               bench.snapshot(p_project), p_actor, first_env
          FROM generate_series(1, p_count) AS g(n)
         ORDER BY g.n
        RETURNING id, releases.version
    )
    INSERT INTO bench_made SELECT id, made.version FROM made;
    stage := 0;
    FOR env IN SELECT e.id, e.trigger, e.required_approvals, e.approval_timeout_hours
                 FROM environments e WHERE e.project_id = p_project ORDER BY e.position LOOP
        EXIT WHEN stage > p_succeeded OR (stage = p_succeeded AND p_then IS NULL);
        INSERT INTO environment_releases (release_id, environment_id, version_label, promoted_from, created_by)
        SELECT m.release_id, env.id, m.version,
               (SELECT er.id FROM environment_releases er
                  JOIN deployments d ON d.environment_release_id = er.id AND d.status = 'succeeded'
                 WHERE er.release_id = m.release_id ORDER BY er.id DESC LIMIT 1),
               p_actor
          FROM bench_made m ORDER BY m.release_id;
        INSERT INTO deployments (environment_release_id, release_id, environment_id, attempt, status,
                                 requested_by, cause, started_at, finished_at, worker_id,
                                 required_approvals, approval_deadline)
        SELECT er.id, m.release_id, env.id, 1,
               CASE WHEN stage < p_succeeded THEN 'succeeded' ELSE p_then END,
               p_actor,
               CASE WHEN stage = 0 AND env.trigger = 'on_release' THEN 'on_release' ELSE 'person' END,
               CASE WHEN stage < p_succeeded THEN now() END,
               CASE WHEN stage < p_succeeded THEN now() END,
               CASE WHEN stage < p_succeeded THEN 'bench-fixture' END,
               env.required_approvals,
               CASE WHEN stage = p_succeeded AND p_then = 'awaiting_approval'
                    THEN now() + make_interval(hours => env.approval_timeout_hours) END
          FROM bench_made m
          JOIN environment_releases er ON er.release_id = m.release_id AND er.environment_id = env.id
         ORDER BY m.release_id;
        stage := stage + 1;
    END LOOP;
    RETURN QUERY SELECT m.release_id, m.version FROM bench_made m ORDER BY m.release_id;
END;
$f$;
