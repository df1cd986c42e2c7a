-- API tokens and service accounts (issue 12).

-- A service account holds tokens and grants and nothing else: it cannot
-- sign in to the pages (no usable password, no session) and is never an
-- administrator.
ALTER TABLE users ADD COLUMN is_service BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD CONSTRAINT users_service_not_admin CHECK (NOT (is_service AND is_admin));

CREATE FUNCTION sessions_refuse_service_accounts() RETURNS trigger AS $$
BEGIN
    IF NEW.user_id IS NOT NULL AND EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id AND is_service) THEN
        RAISE EXCEPTION 'a service account cannot hold a session'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'sessions_no_service_accounts';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER sessions_refuse_service_accounts BEFORE INSERT OR UPDATE OF user_id ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_refuse_service_accounts();

-- Settings of the whole installation: one row.
CREATE TABLE site_settings (
    id BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    token_max_lifetime_days INTEGER NOT NULL DEFAULT 365
        CHECK (token_max_lifetime_days BETWEEN 1 AND 3650)
);
INSERT INTO site_settings DEFAULT VALUES;

-- A token's secret is shown once; the table keeps its SHA-256 (the secret
-- is 256 random bits, so a fast hash is enough) and its first characters
-- to tell tokens apart in lists.
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix TEXT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    -- Scope: one project (NULL: every project the owner may see) and at
    -- most these roles (NULL: the owner's). Never more than the owner holds:
    -- checked on every request against the owner's grants then.
    project_id BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    roles TEXT[] CHECK (roles IS NULL OR (cardinality(roles) > 0
        AND roles <@ ARRAY['viewer', 'deployer', 'approver']::TEXT[])),
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    last_used_from TEXT,
    revoked_at TIMESTAMPTZ,
    revoked_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT api_tokens_expire_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at DESC);
CREATE INDEX api_tokens_created_idx ON api_tokens (created_at DESC, id DESC);

-- No token lives forever: its lifetime is capped by the site's maximum,
-- whatever path creates it.
CREATE FUNCTION api_tokens_cap_lifetime() RETURNS trigger AS $$
DECLARE
    max_days INTEGER;
BEGIN
    SELECT token_max_lifetime_days INTO max_days FROM site_settings;
    IF NEW.expires_at > NEW.created_at + make_interval(days => coalesce(max_days, 365)) THEN
        RAISE EXCEPTION 'a token may live at most % days', max_days
            USING ERRCODE = 'check_violation', CONSTRAINT = 'api_tokens_max_lifetime';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER api_tokens_cap_lifetime BEFORE INSERT OR UPDATE OF expires_at ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_cap_lifetime();
