//! Connecting, creating the database and applying migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::Result;

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool. `max_connections` is the caller's choice: PostgreSQL throughput on this kind
/// of machine peaks around 8-16 busy connections and drops past 32 (see BENCHMARKS.md).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?.log_statements(tracing::log::LevelFilter::Trace);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(3))
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
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
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
