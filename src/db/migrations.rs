//! Migrations embedded in the binary, applied by `migrate` and at `serve` start.

use anyhow::Context;
use diesel::{Connection, PgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary key for the advisory lock that serialises migrating processes.
const MIGRATION_LOCK_KEY: i64 = 0x5354_4147_4543_4f41;

/// Whether every embedded migration has been applied, read without
/// writing (diesel's own check first creates its table), so a role that may
/// not change the schema (`docs/app-role.sql`) can start on an up-to-date
/// database. `false` when the table is missing or unreadable.
pub fn up_to_date(conn: &mut PgConnection) -> bool {
    use diesel::RunQueryDsl;
    use diesel::migration::MigrationSource;
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let Ok(applied) =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load::<Applied>(conn)
    else {
        return false;
    };
    let Ok(embedded) = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS) else {
        return false;
    };
    embedded.iter().all(|m| {
        let version = m.name().version().to_string();
        applied.iter().any(|a| a.version == version)
    })
}

/// Applies every pending migration. Several processes starting at once on
/// one database take turns under an advisory lock.
pub fn run(conn: &mut PgConnection) -> anyhow::Result<()> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::BigInt;
    if up_to_date(conn) {
        return Ok(());
    }
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)
        .context("waiting for the migration lock")?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|_| ())
        .map_err(|err| anyhow::anyhow!("{err}"))
        .context(
            "applying migrations (a role that may not change the schema cannot: \
             run `stagecoach migrate` as the schema's owner, see docs/app-role.sql)",
        );
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
