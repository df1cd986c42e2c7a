-- Scheduled triggers: at set days and a time in a time zone, the newest
-- release that succeeded in the previous environment (and is not yet in
-- this one) is deployed, through this environment's approvals.

ALTER TABLE environments
    ADD COLUMN schedule_days SMALLINT[] NOT NULL DEFAULT '{}',
    ADD COLUMN schedule_time TIME,
    ADD COLUMN schedule_time_zone TEXT NOT NULL DEFAULT 'UTC',
    -- The schedule has been acted on up to this instant.
    ADD COLUMN schedule_checked_at TIMESTAMPTZ;
ALTER TABLE environments DROP CONSTRAINT environments_trigger_check;
ALTER TABLE environments ADD CONSTRAINT environments_trigger_check
    CHECK (trigger IN ('manual', 'on_release', 'after_previous', 'scheduled'));
ALTER TABLE environments ADD CONSTRAINT environments_schedule_complete
    CHECK (trigger <> 'scheduled' OR schedule_time IS NOT NULL);

-- The latest scheduled instant at or before `at`, or NULL. The instant is
-- an argument so tests can ask about any time.
CREATE FUNCTION environment_last_schedule(e environments, at TIMESTAMPTZ) RETURNS TIMESTAMPTZ AS $$
    SELECT max(s.t) FROM (
        SELECT ((date_trunc('day', at AT TIME ZONE e.schedule_time_zone) - make_interval(days => d))
                + e.schedule_time) AT TIME ZONE e.schedule_time_zone AS t
          FROM generate_series(0, 7) AS d
    ) s
    WHERE e.schedule_time IS NOT NULL
      AND s.t <= at
      AND (cardinality(e.schedule_days) = 0
           OR extract(isodow FROM s.t AT TIME ZONE e.schedule_time_zone)::smallint = ANY (e.schedule_days))
$$ LANGUAGE sql STABLE;
