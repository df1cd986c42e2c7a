-- Running deployments for real: steps, variables and secrets, queue
-- policies, logs, cancellation and worker leases.

CREATE TABLE steps (
    id              BIGSERIAL PRIMARY KEY,
    environment_id  BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL CHECK (position >= 0),
    kind            TEXT NOT NULL CHECK (kind IN ('script', 'http')),
    name            TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    script          TEXT NOT NULL DEFAULT '' CHECK (char_length(script) <= 100000),
    url             TEXT,
    timeout_seconds INTEGER NOT NULL DEFAULT 600 CHECK (timeout_seconds BETWEEN 1 AND 86400),
    retries         INTEGER NOT NULL DEFAULT 2 CHECK (retries BETWEEN 0 AND 10),
    CONSTRAINT steps_script_has_script CHECK (kind <> 'script' OR char_length(script) > 0),
    CONSTRAINT steps_http_has_url CHECK (kind <> 'http' OR url IS NOT NULL),
    CONSTRAINT steps_position_key UNIQUE (environment_id, position) DEFERRABLE INITIALLY IMMEDIATE
);

-- A secret's value is stored only encrypted (nonce || ciphertext).
CREATE TABLE variables (
    id             BIGSERIAL PRIMARY KEY,
    environment_id BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    name           TEXT NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
    secret         BOOLEAN NOT NULL DEFAULT FALSE,
    value          TEXT CHECK (char_length(value) <= 10000),
    encrypted      BYTEA,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (environment_id, name),
    CONSTRAINT variables_secret_is_encrypted CHECK (
        (secret AND encrypted IS NOT NULL AND value IS NULL)
        OR (NOT secret AND value IS NOT NULL AND encrypted IS NULL))
);

-- Queue policy: how many may run at once, and whether only the newest of
-- several waiting ones runs.
ALTER TABLE environments
    ADD COLUMN max_running INTEGER NOT NULL DEFAULT 1 CHECK (max_running BETWEEN 1 AND 20),
    ADD COLUMN queue_policy TEXT NOT NULL DEFAULT 'all' CHECK (queue_policy IN ('all', 'latest'));

ALTER TABLE deployments
    ADD COLUMN worker_id TEXT,
    ADD COLUMN lease_expires_at TIMESTAMPTZ,
    ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN note TEXT NOT NULL DEFAULT '',
    ADD COLUMN log_bytes BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deployments_running_lease_idx ON deployments (lease_expires_at) WHERE status = 'running';

-- The environment's own limit replaces the fixed one-at-a-time index. A
-- deployment starts running only with the environment row locked and the
-- count below the limit, so racing workers cannot exceed it.
DROP INDEX deployments_one_running_per_environment;
CREATE FUNCTION deployments_guard_running() RETURNS trigger AS $$
DECLARE
    limit_running INTEGER;
BEGIN
    IF NEW.status = 'running' AND OLD.status <> 'running' THEN
        SELECT max_running INTO limit_running FROM environments WHERE id = NEW.environment_id FOR UPDATE;
        IF (SELECT count(*) FROM deployments
             WHERE environment_id = NEW.environment_id AND status = 'running' AND id <> NEW.id) >= limit_running THEN
            RAISE EXCEPTION 'environment % already runs % deployment(s)', NEW.environment_id, limit_running
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_guard_running BEFORE UPDATE OF status ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployments_guard_running();

CREATE TABLE deployment_steps (
    deployment_id BIGINT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled')),
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    detail        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (deployment_id, position)
);

CREATE TABLE deployment_logs (
    id            BIGSERIAL PRIMARY KEY,
    deployment_id BIGINT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    step_position INTEGER,
    stream        TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    at            TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    line          TEXT NOT NULL
);
CREATE INDEX deployment_logs_deployment_idx ON deployment_logs (deployment_id, id);
