DROP TABLE api_tokens;
DROP FUNCTION api_tokens_cap_lifetime();
DROP TABLE site_settings;
DROP TRIGGER sessions_refuse_service_accounts ON sessions;
DROP FUNCTION sessions_refuse_service_accounts();
ALTER TABLE users DROP CONSTRAINT users_service_not_admin;
ALTER TABLE users DROP COLUMN is_service;
