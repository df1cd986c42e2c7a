-- Approvals, deferrals, not-before times, deployment windows, automatic
-- promotion and "deploy as far as".

ALTER TABLE environments
    ADD COLUMN required_approvals INTEGER NOT NULL DEFAULT 0 CHECK (required_approvals BETWEEN 0 AND 10),
    ADD COLUMN allow_self_approval BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN approval_timeout_hours INTEGER NOT NULL DEFAULT 168 CHECK (approval_timeout_hours BETWEEN 1 AND 8760),
    -- Days the window is open: ISO weekday numbers (1 = Monday), empty for every day.
    ADD COLUMN window_days SMALLINT[] NOT NULL DEFAULT '{}',
    ADD COLUMN window_start TIME,
    ADD COLUMN window_end TIME,
    ADD COLUMN window_time_zone TEXT NOT NULL DEFAULT 'UTC',
    ADD CONSTRAINT environments_window_complete CHECK ((window_start IS NULL) = (window_end IS NULL));
ALTER TABLE environments DROP CONSTRAINT environments_trigger_check;
ALTER TABLE environments ADD CONSTRAINT environments_trigger_check
    CHECK (trigger IN ('manual', 'on_release', 'after_previous'));

ALTER TABLE deployments
    ADD COLUMN not_before TIMESTAMPTZ,
    ADD COLUMN required_approvals INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN approval_deadline TIMESTAMPTZ,
    ADD COLUMN target_environment_id BIGINT REFERENCES environments (id);
CREATE INDEX deployments_awaiting_idx ON deployments (environment_id, created_at DESC) WHERE status = 'awaiting_approval';

CREATE TABLE approvals (
    id            BIGSERIAL PRIMARY KEY,
    deployment_id BIGINT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    approver_id   BIGINT NOT NULL REFERENCES users (id),
    decision      TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'defer')),
    comment       TEXT NOT NULL DEFAULT '' CHECK (char_length(comment) <= 2000),
    defer_until   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT approvals_defer_has_time CHECK ((decision = 'defer') = (defer_until IS NOT NULL))
);
-- An approver's approval counts once, however often they click.
CREATE UNIQUE INDEX approvals_one_per_approver ON approvals (deployment_id, approver_id)
    WHERE decision IN ('approve', 'defer');
CREATE INDEX approvals_deployment_idx ON approvals (deployment_id);

-- Whether an environment's deployment window is open at an instant (in the
-- window's time zone; a window may run past midnight). Taking the instant
-- as an argument lets tests ask about any time.
CREATE FUNCTION environment_window_open(e environments, at TIMESTAMPTZ) RETURNS BOOLEAN AS $$
    SELECT e.window_start IS NULL OR (
        (cardinality(e.window_days) = 0
            OR extract(isodow FROM at AT TIME ZONE e.window_time_zone)::smallint = ANY (e.window_days))
        AND CASE WHEN e.window_start <= e.window_end
            THEN (at AT TIME ZONE e.window_time_zone)::time >= e.window_start
                 AND (at AT TIME ZONE e.window_time_zone)::time < e.window_end
            ELSE (at AT TIME ZONE e.window_time_zone)::time >= e.window_start
                 OR (at AT TIME ZONE e.window_time_zone)::time < e.window_end
        END)
$$ LANGUAGE sql STABLE;
