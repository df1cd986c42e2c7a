DROP TABLE manual_decisions;
DROP FUNCTION manual_decisions_guard();
ALTER TABLE deployment_steps DROP COLUMN instructions, DROP CONSTRAINT deployment_steps_kind_check;
ALTER TABLE deployment_steps ADD CONSTRAINT deployment_steps_kind_check CHECK (kind IN ('script', 'http'));
ALTER TABLE steps DROP CONSTRAINT steps_manual_has_instructions, DROP CONSTRAINT steps_kind_check;
ALTER TABLE steps ADD CONSTRAINT steps_kind_check CHECK (kind IN ('script', 'http'));
