DROP INDEX releases_project_created_idx;
CREATE INDEX releases_project_created_idx ON releases (project_id, created_at DESC, id DESC);
