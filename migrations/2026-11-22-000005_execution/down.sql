DROP TABLE deployment_logs;
DROP TABLE deployment_steps;
DROP TRIGGER deployments_guard_running ON deployments;
DROP FUNCTION deployments_guard_running();
CREATE UNIQUE INDEX deployments_one_running_per_environment ON deployments (environment_id) WHERE status = 'running';
DROP INDEX deployments_running_lease_idx;
ALTER TABLE deployments DROP COLUMN worker_id, DROP COLUMN lease_expires_at, DROP COLUMN cancel_requested,
    DROP COLUMN note, DROP COLUMN log_bytes;
ALTER TABLE environments DROP COLUMN max_running, DROP COLUMN queue_policy;
DROP TABLE variables;
DROP TABLE steps;
