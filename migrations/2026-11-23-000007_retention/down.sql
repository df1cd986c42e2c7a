ALTER TABLE projects DROP COLUMN retention_days, DROP COLUMN retention_keep, DROP COLUMN retention_swept_at;
