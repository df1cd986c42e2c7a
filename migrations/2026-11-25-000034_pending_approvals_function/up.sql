-- The header's approvals count, read on every signed-in page with the
-- session: deployments waiting for `me`'s approval (leaving out those they
-- already decided, and those they asked for where self-approval is off),
-- and deployments stopped at a manual step where they approve. Where `me`
-- approves: anywhere if `admin`, else where they or one of their teams
-- holds `approver`. Counted up to 100 only (the header shows "99+"; the
-- app's PENDING_COUNT_CAP): counting every waiting deployment made each
-- request cost more the longer the queue (4.5 ms with 5,500 waiting,
-- bench/README.md). The environments come first, as an index condition: a
-- filter over every waiting deployment cost a user who approves nowhere
-- 5.9 ms per request with 4,600 waiting elsewhere.
--
-- A function so that the count can be skipped: when `known_snapshot` is
-- the statement's own snapshot, the caller already holds the count made
-- under it (nothing was committed since) and gets NULL. As a subquery in
-- the session's statement the count's plan was set up on every request,
-- skipped or not, which halved the statement's rate (pgbench, 8 clients:
-- 14,000-18,000 a second against 30,000-36,000 with this function when
-- the snapshot is known). STABLE: it reads under the caller's snapshot.
CREATE FUNCTION pending_approvals(me bigint, admin boolean, known_snapshot text)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    mine bigint[];
BEGIN
    IF known_snapshot IS NOT NULL AND known_snapshot = pg_current_snapshot()::text THEN
        RETURN NULL;
    END IF;
    IF me IS NULL AND NOT admin THEN
        RETURN 0;
    END IF;
    mine := ARRAY(SELECT e.id FROM environments e WHERE admin
                  UNION ALL
                  SELECT g.environment_id FROM grants g
                   WHERE NOT admin AND g.role = 'approver'
                     AND (g.user_id = me OR g.team_id IN (
                          SELECT tm.team_id FROM team_members tm WHERE tm.user_id = me)));
    RETURN (SELECT count(*) FROM (
        (SELECT FROM deployments d
          WHERE d.status = 'awaiting_approval'
            AND d.environment_id = ANY (mine)
            AND NOT EXISTS (SELECT 1 FROM approvals a
                             WHERE a.deployment_id = d.id AND a.approver_id = me)
            AND (me IS NULL OR d.requested_by IS DISTINCT FROM me
                 OR EXISTS (SELECT 1 FROM environments e
                             WHERE e.id = d.environment_id AND e.allow_self_approval))
          LIMIT 100)
        UNION ALL
        (SELECT FROM deployments d
           JOIN deployment_steps s ON s.deployment_id = d.id
          WHERE d.status = 'running' AND s.kind = 'manual' AND s.status = 'running'
            AND d.environment_id = ANY (mine)
          LIMIT 100)
        LIMIT 100) waiting);
END
$$;
