-- Projects, their pipelines of environments, releases and deployments.

CREATE TABLE projects (
    id          BIGSERIAL PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by  BIGINT REFERENCES users (id),
    CONSTRAINT projects_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    CONSTRAINT projects_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);

CREATE TABLE environments (
    id         BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    slug       TEXT NOT NULL,
    name       TEXT NOT NULL,
    position   INTEGER NOT NULL CHECK (position >= 0),
    url        TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT environments_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    CONSTRAINT environments_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    UNIQUE (project_id, slug),
    -- Deferrable so that a reorder can swap positions inside one transaction.
    CONSTRAINT environments_position_key UNIQUE (project_id, position) DEFERRABLE INITIALLY IMMEDIATE
);

CREATE TABLE releases (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    version     TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    snapshot    JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_by  BIGINT REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT releases_version_format CHECK (version ~ '^[A-Za-z0-9._+-]{1,64}$'),
    CONSTRAINT releases_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT releases_description_length CHECK (char_length(description) <= 10000),
    UNIQUE (project_id, version)
);
-- Newest first, keyset-paginated.
CREATE INDEX releases_project_created_idx ON releases (project_id, created_at DESC, id DESC);

CREATE TABLE release_artifacts (
    id         BIGSERIAL PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    reference  TEXT NOT NULL CHECK (char_length(reference) BETWEEN 1 AND 200),
    url        TEXT,
    sha256     TEXT CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    UNIQUE (release_id, position)
);

-- A release as it stands in one environment, linked to the one it was
-- promoted from.
CREATE TABLE environment_releases (
    id             BIGSERIAL PRIMARY KEY,
    release_id     BIGINT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    environment_id BIGINT NOT NULL REFERENCES environments (id),
    version_label  TEXT NOT NULL CHECK (version_label ~ '^[A-Za-z0-9._+-]{1,64}$'),
    promoted_from  BIGINT REFERENCES environment_releases (id) ON DELETE CASCADE,
    created_by     BIGINT REFERENCES users (id),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (release_id, environment_id)
);
CREATE INDEX environment_releases_environment_idx ON environment_releases (environment_id);
CREATE INDEX environment_releases_promoted_from_idx ON environment_releases (promoted_from);

CREATE TABLE deployments (
    id                     BIGSERIAL PRIMARY KEY,
    environment_release_id BIGINT NOT NULL REFERENCES environment_releases (id) ON DELETE CASCADE,
    release_id             BIGINT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    environment_id         BIGINT NOT NULL REFERENCES environments (id),
    attempt                INTEGER NOT NULL CHECK (attempt >= 1),
    status                 TEXT NOT NULL CHECK (status IN
        ('awaiting_approval', 'queued', 'running', 'succeeded', 'failed', 'rejected', 'cancelled')),
    is_rollback            BOOLEAN NOT NULL DEFAULT FALSE,
    comment                TEXT NOT NULL DEFAULT '',
    requested_by           BIGINT REFERENCES users (id),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at             TIMESTAMPTZ,
    finished_at            TIMESTAMPTZ,
    UNIQUE (environment_release_id, attempt)
);
CREATE INDEX deployments_environment_idx ON deployments (environment_id, created_at DESC, id DESC);
CREATE INDEX deployments_release_idx ON deployments (release_id);
CREATE INDEX deployments_active_idx ON deployments (status, created_at) WHERE status IN ('queued', 'running');
