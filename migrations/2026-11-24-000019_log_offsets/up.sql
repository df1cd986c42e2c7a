-- Each log line knows where it ends in the log's text (its bytes plus a
-- newline, counted as deployments.log_bytes counts them), so a client can
-- follow a log by byte offset with one indexed read per poll.
ALTER TABLE deployment_logs ADD COLUMN end_offset BIGINT;
UPDATE deployment_logs l SET end_offset = s.end_offset
  FROM (SELECT id, sum(octet_length(line) + 1) OVER (PARTITION BY deployment_id ORDER BY id) AS end_offset
          FROM deployment_logs) s
 WHERE s.id = l.id;
ALTER TABLE deployment_logs ALTER COLUMN end_offset SET NOT NULL;
CREATE INDEX deployment_logs_offset_idx ON deployment_logs (deployment_id, end_offset);
