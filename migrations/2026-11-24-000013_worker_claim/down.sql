DROP FUNCTION deployment_claim_candidate(INTEGER);
DROP INDEX deployments_running_environment_idx;
DROP INDEX deployments_queued_idx;
