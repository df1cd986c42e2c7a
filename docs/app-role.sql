-- A database role for Stagecoach that reads and writes rows and can never
-- change the schema: no TRUNCATE, DROP, ALTER or CREATE. Run this once,
-- with psql, in Stagecoach's database, as the role that owns the schema
-- (the one `stagecoach migrate` runs as), after the first migration:
--
--   psql "$MIGRATION_DATABASE_URL" -f docs/app-role.sql
--
-- Then run `stagecoach serve` and `stagecoach worker` with a DATABASE_URL
-- that logs in as stagecoach_app (set its password first where the server
-- asks for one: ALTER ROLE stagecoach_app PASSWORD '…'), and migrate with
-- the owner: `DATABASE_URL=$MIGRATION_DATABASE_URL stagecoach migrate`. A
-- server started as stagecoach_app skips migrating when the schema is up
-- to date, and says to migrate with the owner when it is not.
--
-- Tables and sequences later migrations create are covered by the default
-- privileges below, as long as the same owner creates them.
-- (`tests/app/roles.rs` runs this file as written.)

CREATE ROLE stagecoach_app LOGIN;
DO $$ BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO stagecoach_app', current_database());
END $$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO stagecoach_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO stagecoach_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO stagecoach_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO stagecoach_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO stagecoach_app;
-- Which migrations ran is the owner's to say.
REVOKE INSERT, UPDATE, DELETE ON __diesel_schema_migrations FROM stagecoach_app;
