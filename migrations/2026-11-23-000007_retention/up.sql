-- Retention: releases that never left their first environment are removed
-- after a number of days, except the newest few. Promoted releases are
-- kept forever (rule 1 holds that anyway).
ALTER TABLE projects
    ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 3650),
    ADD COLUMN retention_keep INTEGER NOT NULL DEFAULT 20 CHECK (retention_keep BETWEEN 0 AND 10000),
    ADD COLUMN retention_swept_at TIMESTAMPTZ;
