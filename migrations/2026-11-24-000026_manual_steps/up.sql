-- Manual steps: a deployment pauses at one ("waiting for a person": the
-- step runs, and its worker holds the lease while it waits) until an
-- approver of the environment proceeds or aborts with a note, or its
-- timeout aborts it. The instructions are the step's text (kept in
-- `script`), copied to the deployment's step so the person sees what this
-- deployment was given.
ALTER TABLE steps DROP CONSTRAINT steps_kind_check;
ALTER TABLE steps
    ADD CONSTRAINT steps_kind_check CHECK (kind IN ('script', 'http', 'manual')),
    ADD CONSTRAINT steps_manual_has_instructions CHECK (kind <> 'manual' OR char_length(script) > 0);
ALTER TABLE deployment_steps DROP CONSTRAINT deployment_steps_kind_check;
ALTER TABLE deployment_steps
    ADD CONSTRAINT deployment_steps_kind_check CHECK (kind IN ('script', 'http', 'manual')),
    ADD COLUMN instructions TEXT NOT NULL DEFAULT '';

-- One decision per manual step of a deployment: the primary key is the
-- rule "a manual step cannot be decided twice".
CREATE TABLE manual_decisions (
    deployment_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    proceed BOOLEAN NOT NULL,
    note TEXT NOT NULL DEFAULT '' CHECK (char_length(note) <= 2000),
    decided_by BIGINT NOT NULL REFERENCES users (id),
    decided_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, position),
    FOREIGN KEY (deployment_id, position)
        REFERENCES deployment_steps (deployment_id, position) ON DELETE CASCADE
);

-- Only while the step waits (a running manual step of a running
-- deployment), and only by an approver of the environment.
CREATE FUNCTION manual_decisions_guard() RETURNS trigger AS $$
DECLARE
    env_id BIGINT;
BEGIN
    SELECT d.environment_id INTO env_id
      FROM deployments d
      JOIN deployment_steps s ON s.deployment_id = d.id AND s.position = NEW.position
     WHERE d.id = NEW.deployment_id AND d.status = 'running'
       AND s.kind = 'manual' AND s.status = 'running'
       FOR SHARE OF s;
    IF env_id IS NULL THEN
        RAISE EXCEPTION 'deployment % is not waiting at manual step %', NEW.deployment_id, NEW.position
            USING ERRCODE = 'check_violation', CONSTRAINT = 'manual_decisions_step_waits';
    END IF;
    IF NOT user_holds_role(NEW.decided_by, env_id, 'approver') THEN
        RAISE EXCEPTION 'user % holds no approver role there', NEW.decided_by
            USING ERRCODE = 'check_violation', CONSTRAINT = 'manual_decisions_by_approver';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER manual_decisions_guard BEFORE INSERT ON manual_decisions
    FOR EACH ROW EXECUTE FUNCTION manual_decisions_guard();
