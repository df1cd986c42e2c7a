//! Migrations embedded in the binary, applied by `migrate` and at `serve` start.

use anyhow::Context;
use diesel::{Connection, PgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary key for the advisory lock that serialises migrating processes.
const MIGRATION_LOCK_KEY: i64 = 0x5354_4147_4543_4f41;

/// Applies every pending migration. Several processes starting at once on
/// one database take turns under an advisory lock.
pub fn run(conn: &mut PgConnection) -> anyhow::Result<()> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::BigInt;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)
        .context("waiting for the migration lock")?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|_| ())
        .map_err(|err| anyhow::anyhow!("{err}"))
        .context("applying migrations");
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)
        .context("releasing the migration lock")?;
    result
}

pub fn run_on_url(database_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(database_url).context("connecting to the database")?;
    run(&mut conn)
}
