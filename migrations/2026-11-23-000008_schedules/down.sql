DROP FUNCTION environment_last_schedule(environments, TIMESTAMPTZ);
UPDATE environments SET trigger = 'manual' WHERE trigger = 'scheduled';
ALTER TABLE environments DROP CONSTRAINT environments_schedule_complete;
ALTER TABLE environments DROP CONSTRAINT environments_trigger_check;
ALTER TABLE environments ADD CONSTRAINT environments_trigger_check
    CHECK (trigger IN ('manual', 'on_release', 'after_previous'));
ALTER TABLE environments DROP COLUMN schedule_days, DROP COLUMN schedule_time,
    DROP COLUMN schedule_time_zone, DROP COLUMN schedule_checked_at;
