//! The reconciler closes the gap between "recorded in PostgreSQL" and "stored in JetStream".
//!
//! The ingress records a task, then publishes it. If it dies in between, or JetStream loses an
//! acknowledged message (see README, durability), the task would wait forever and block its
//! conversation behind it. Every [`RECONCILE_INTERVAL`] the reconciler republishes tasks that
//! were accepted more than `after` ago and that their conversation has not applied yet, with
//! the same `Nats-Msg-Id`: JetStream drops the copy within its duplicate window, and a copy
//! past it is a redelivery the database fence turns into a no-op.

use std::time::Duration;

use async_nats::jetstream;
use schemas::partition_of;
use sqlx::PgPool;
use tokio::sync::watch;

/// How often the reconciler looks.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);
/// The most tasks republished per look.
pub const RECONCILE_BATCH: i64 = 500;
/// How long one republish may wait for its PubAck.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true.
pub async fn run(
    pool: PgPool,
    js: jetstream::Context,
    partitions: u32,
    after: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(RECONCILE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        match reconcile_once(&pool, &js, partitions, after).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "republished tasks that were recorded but not applied"),
            Err(error) => tracing::warn!(%error, "reconciler pass failed"),
        }
    }
}

/// One pass: returns how many tasks were republished.
pub async fn reconcile_once(
    pool: &PgPool,
    js: &jetstream::Context,
    partitions: u32,
    after: Duration,
) -> anyhow::Result<usize> {
    let before = chrono::Utc::now() - chrono::Duration::from_std(after)?;
    let rows = store::tasks::unapplied_before(pool, before, RECONCILE_BATCH).await?;
    let mut count = 0;
    for row in rows {
        let envelope = match row.envelope() {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::error!(task_id = %row.id, %error, "stored task cannot be republished");
                continue;
            }
        };
        let partition = partition_of(&envelope.principal, &envelope.context_id, partitions);
        queue::publish_task(js, partition, &envelope, PUBLISH_TIMEOUT).await?;
        count += 1;
    }
    Ok(count)
}
