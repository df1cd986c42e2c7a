-- When an environment's deployment window next opens after an instant
-- (NULL when it has no window), so pages can say when a wait ends.
CREATE FUNCTION environment_window_next_open(e environments, at TIMESTAMPTZ) RETURNS TIMESTAMPTZ AS $$
    SELECT min(s.t) FROM (
        SELECT ((date_trunc('day', at AT TIME ZONE e.window_time_zone) + make_interval(days => d))
                + e.window_start) AT TIME ZONE e.window_time_zone AS t
          FROM generate_series(0, 8) AS d
    ) s
    WHERE e.window_start IS NOT NULL
      AND s.t > at
      AND (cardinality(e.window_days) = 0
           OR extract(isodow FROM s.t AT TIME ZONE e.window_time_zone)::smallint = ANY (e.window_days))
$$ LANGUAGE sql STABLE;
