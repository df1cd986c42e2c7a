DROP TABLE deployments;
DROP TABLE environment_releases;
DROP TABLE release_artifacts;
DROP TABLE releases;
DROP TABLE environments;
DROP TABLE projects;
