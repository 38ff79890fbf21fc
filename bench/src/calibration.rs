//! The machine's speed in this run: pgbench running a turn-shaped transaction (an insert and
//! two updates, as a turn records its message id and advances its task and its conversation)
//! on the same PostgreSQL, 8 clients for a few seconds. Every figure is also printed as a ratio
//! to it, so runs on different days (this machine drifts by tens of percent) compare.

use std::time::Duration;

const SCRIPT: &str = "\\set id random(1, 10000)
BEGIN;
INSERT INTO calib_messages (ctx, body) VALUES (:id, repeat('x', 400));
UPDATE calib_contexts SET applied = applied + 1 WHERE id = :id;
UPDATE calib_contexts SET updated_at = now() WHERE id = :id;
END;
";

/// Transactions per second of the turn-shaped pgbench script, or `None` if pgbench is missing.
pub async fn turn_shaped_tps(admin_url: &str, duration: Duration) -> Option<f64> {
    let admin = sqlx::PgPool::connect(admin_url).await.ok()?;
    let name = format!("cartwright_calib_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&admin).await.ok()?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.ok()?;
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => return None,
    };
    let tps = run(&url, duration).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await.ok()?;
    tps
}

async fn run(url: &str, duration: Duration) -> Option<f64> {
    let db = sqlx::PgPool::connect(url).await.ok()?;
    for statement in [
        "CREATE TABLE calib_contexts (id int PRIMARY KEY, applied bigint NOT NULL DEFAULT 0, updated_at timestamptz)",
        "INSERT INTO calib_contexts (id) SELECT generate_series(1, 10000)",
        "CREATE TABLE calib_messages (id bigserial PRIMARY KEY, ctx int NOT NULL, body text NOT NULL)",
    ] {
        sqlx::query(statement).execute(&db).await.ok()?;
    }
    db.close().await;
    let script = std::env::temp_dir().join(format!("cartwright-calib-{}.sql", std::process::id()));
    std::fs::write(&script, SCRIPT).ok()?;
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-c", "8", "-j", "2", "-T", &duration.as_secs().max(1).to_string(), "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .await
        .ok()?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
}
