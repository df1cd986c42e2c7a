-- Deployment freezes (one-off ranges and recurring ones) and break-glass
-- overrides confirmed by a second approver.

CREATE TABLE freezes (
    id             BIGSERIAL PRIMARY KEY,
    project_id     BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- NULL: the whole project.
    environment_id BIGINT REFERENCES environments (id) ON DELETE CASCADE,
    reason         TEXT NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    kind           TEXT NOT NULL CHECK (kind IN ('once', 'recurring')),
    starts_at      TIMESTAMPTZ,
    ends_at        TIMESTAMPTZ,
    days           SMALLINT[] NOT NULL DEFAULT '{}',
    start_time     TIME,
    end_time       TIME,
    time_zone      TEXT NOT NULL DEFAULT 'UTC',
    created_by     BIGINT REFERENCES users (id),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT freezes_once_has_range CHECK (kind <> 'once' OR (starts_at IS NOT NULL AND ends_at > starts_at)),
    CONSTRAINT freezes_recurring_has_hours CHECK (kind <> 'recurring' OR (start_time IS NOT NULL AND end_time IS NOT NULL AND start_time <> end_time))
);
CREATE INDEX freezes_project_idx ON freezes (project_id);

-- The freeze holding an environment at an instant, if any.
CREATE FUNCTION environment_freeze(e environments, at TIMESTAMPTZ) RETURNS BIGINT AS $$
    SELECT f.id FROM freezes f
     WHERE f.project_id = e.project_id
       AND (f.environment_id IS NULL OR f.environment_id = e.id)
       AND ((f.kind = 'once' AND at >= f.starts_at AND at < f.ends_at)
         OR (f.kind = 'recurring'
             AND (cardinality(f.days) = 0
                  OR extract(isodow FROM at AT TIME ZONE f.time_zone)::smallint = ANY (f.days))
             AND CASE WHEN f.start_time <= f.end_time
                 THEN (at AT TIME ZONE f.time_zone)::time >= f.start_time
                      AND (at AT TIME ZONE f.time_zone)::time < f.end_time
                 ELSE (at AT TIME ZONE f.time_zone)::time >= f.start_time
                      OR (at AT TIME ZONE f.time_zone)::time < f.end_time
             END))
     ORDER BY f.id
     LIMIT 1
$$ LANGUAGE sql STABLE;

ALTER TABLE deployments
    ADD COLUMN override_reason TEXT,
    ADD COLUMN override_requested_by BIGINT REFERENCES users (id),
    ADD COLUMN override_confirmed_by BIGINT REFERENCES users (id),
    -- Two different approvers: one asks, another confirms.
    ADD CONSTRAINT deployments_override_two_people
        CHECK (override_confirmed_by IS NULL
               OR (override_requested_by IS NOT NULL AND override_confirmed_by <> override_requested_by));
