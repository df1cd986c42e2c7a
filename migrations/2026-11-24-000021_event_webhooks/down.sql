DROP TRIGGER deployments_override_webhook ON deployments;
DROP FUNCTION deployments_override_webhook();
DROP TRIGGER deployments_webhook ON deployments;
DROP FUNCTION deployments_webhook();
DROP TRIGGER releases_webhook ON releases;
DROP FUNCTION releases_webhook();
DROP FUNCTION webhooks_enqueue(BIGINT, TEXT, JSONB);
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
