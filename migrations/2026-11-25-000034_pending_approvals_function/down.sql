DROP FUNCTION pending_approvals(bigint, boolean, text);
