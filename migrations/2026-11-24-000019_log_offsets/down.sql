DROP INDEX deployment_logs_offset_idx;
ALTER TABLE deployment_logs DROP COLUMN end_offset;
