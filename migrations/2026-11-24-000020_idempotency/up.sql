-- Idempotency keys of API requests that create (a release, a deployment):
-- a retried request with the same key and body gets the first answer and
-- creates nothing. Bound to the token that sent it; kept at least 24 hours
-- (the sweep removes older ones).
CREATE TABLE idempotency_keys (
    token_id BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash BYTEA NOT NULL,
    -- The answer, once the request completed.
    status SMALLINT,
    response JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
