//! The purge job: every [`PURGE_INTERVAL`], one worker at a time (a PostgreSQL advisory lock),
//! deletes what retention no longer needs (see `store::retention`), [`PURGE_BATCH`] rows of each
//! kind per pass, and again at once while a pass found a full batch. Counted in
//! `cartwright_purged_total{table}`.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

/// The wait between passes that found nothing more to delete.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// Rows of each kind deleted per pass (one short transaction).
pub const PURGE_BATCH: i64 = 5000;

/// How long records are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub processed_messages: Duration,
    pub tasks: Duration,
}

/// Runs until `stop` turns true; the first pass right away.
pub async fn run(pool: PgPool, retention: Retention, mut stop: watch::Receiver<bool>) {
    loop {
        let wait = match purge_once(&pool, retention).await {
            Ok(Some(purged)) if full(&purged) => Duration::ZERO,
            Ok(_) => PURGE_INTERVAL,
            Err(error) => {
                tracing::warn!(%error, "purge pass failed");
                PURGE_INTERVAL
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass; `None` if another worker's pass was running.
pub async fn purge_once(pool: &PgPool, retention: Retention) -> anyhow::Result<Option<store::retention::Purged>> {
    let now = chrono::Utc::now();
    let processed_before = now - chrono::Duration::from_std(retention.processed_messages)?;
    let finished_before = now - chrono::Duration::from_std(retention.tasks)?;
    let purged = store::retention::purge(pool, processed_before, finished_before, PURGE_BATCH).await?;
    if let Some(purged) = purged {
        for (table, count) in [
            ("processed_messages", purged.processed_messages),
            ("tasks", purged.tasks),
            ("contexts", purged.contexts),
            ("webhook_deliveries", purged.webhook_deliveries),
        ] {
            metrics::counter!("cartwright_purged_total", "table" => table).increment(count);
        }
        if purged != store::retention::Purged::default() {
            tracing::info!(
                processed_messages = purged.processed_messages,
                tasks = purged.tasks,
                contexts = purged.contexts,
                webhook_deliveries = purged.webhook_deliveries,
                "purged records past retention"
            );
        }
    }
    Ok(purged)
}

fn full(purged: &store::retention::Purged) -> bool {
    [purged.processed_messages, purged.tasks, purged.contexts, purged.webhook_deliveries]
        .iter()
        .any(|&count| count as i64 >= PURGE_BATCH)
}
