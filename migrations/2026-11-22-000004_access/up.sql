-- Teams, grants to users or teams, and the last-admin rule.

CREATE TABLE teams (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_name_key ON teams (lower(name));

CREATE TABLE team_members (
    team_id  BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

-- A grant names a user or a team, never both.
ALTER TABLE grants ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE grants ADD COLUMN team_id BIGINT REFERENCES teams (id) ON DELETE CASCADE;
ALTER TABLE grants ADD CONSTRAINT grants_one_holder CHECK ((user_id IS NULL) <> (team_id IS NULL));
ALTER TABLE grants DROP CONSTRAINT grants_user_id_environment_id_role_key;
CREATE UNIQUE INDEX grants_user_key ON grants (user_id, environment_id, role) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX grants_team_key ON grants (team_id, environment_id, role) WHERE team_id IS NOT NULL;
CREATE INDEX grants_team_idx ON grants (team_id);

-- There is always at least one active administrator. Changes to admins
-- take turns under a lock, so two admins demoting each other at once
-- cannot leave none.
CREATE FUNCTION users_keep_an_admin() RETURNS trigger AS $$
BEGIN
    IF OLD.is_admin AND NOT OLD.disabled AND (NOT NEW.is_admin OR NEW.disabled) THEN
        PERFORM pg_advisory_xact_lock(7431003);
        IF NOT EXISTS (SELECT 1 FROM users WHERE id <> OLD.id AND is_admin AND NOT disabled) THEN
            RAISE EXCEPTION 'the last active administrator cannot be disabled or demoted'
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_keep_an_admin BEFORE UPDATE OF is_admin, disabled ON users
    FOR EACH ROW EXECUTE FUNCTION users_keep_an_admin();
