-- A planned step's kind is one the worker knows, like the step it was
-- planned from (domain::states::StepKind reads nothing else).
ALTER TABLE deployment_steps
    ADD CONSTRAINT deployment_steps_kind_check CHECK (kind IN ('script', 'http'));
