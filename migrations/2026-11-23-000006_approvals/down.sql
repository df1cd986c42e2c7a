DROP FUNCTION environment_window_open(environments, TIMESTAMPTZ);
DROP TABLE approvals;
DROP INDEX deployments_awaiting_idx;
ALTER TABLE deployments DROP COLUMN not_before, DROP COLUMN required_approvals, DROP COLUMN approval_deadline,
    DROP COLUMN target_environment_id;
ALTER TABLE environments DROP CONSTRAINT environments_trigger_check;
UPDATE environments SET trigger = 'manual' WHERE trigger = 'after_previous';
ALTER TABLE environments ADD CONSTRAINT environments_trigger_check CHECK (trigger IN ('manual', 'on_release'));
ALTER TABLE environments DROP CONSTRAINT environments_window_complete;
ALTER TABLE environments DROP COLUMN required_approvals, DROP COLUMN allow_self_approval,
    DROP COLUMN approval_timeout_hours, DROP COLUMN window_days, DROP COLUMN window_start,
    DROP COLUMN window_end, DROP COLUMN window_time_zone;
