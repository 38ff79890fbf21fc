//! Retention: what the purge job deletes, a batch at a time, one worker at a time.
//!
//! - `processed_messages` rows older than the processed-message retention (at least 24 h: a
//!   redelivery or a republish older than that finds its task applied by the fence anyway);
//! - finished tasks older than the task retention, once their conversation's fence is past them,
//!   with their journals (`ON DELETE CASCADE`); a task is also its idempotency record, so a
//!   messageId resent after that creates a new task;
//! - conversations left with no task, session or checkout, idle as long;
//! - delivered webhook events older than the task retention (undelivered ones stay).
//!
//! Orders and the checkouts they belong to are business records and are never purged here.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::Result;

/// Rows deleted by one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub processed_messages: u64,
    pub tasks: u64,
    pub contexts: u64,
    pub webhook_deliveries: u64,
}

/// The advisory lock that lets one purge run at a time across all workers.
const LOCK: i64 = 0x6361_7274_7270_7572; // "cartrpur"

/// One pass, deleting at most `batch` rows of each kind. `None` if another worker's pass holds
/// the lock.
pub async fn purge(
    pool: &PgPool,
    processed_before: DateTime<Utc>,
    finished_before: DateTime<Utc>,
    batch: i64,
) -> Result<Option<Purged>> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    let processed_messages = sqlx::query(
        "DELETE FROM processed_messages WHERE msg_id IN (
             SELECT msg_id FROM processed_messages WHERE processed_at < $1 LIMIT $2)",
    )
    .bind(processed_before)
    .bind(batch)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let tasks = sqlx::query(
        "DELETE FROM tasks WHERE id IN (
             SELECT t.id FROM tasks t
             JOIN contexts c ON c.principal = t.principal AND c.context_id = t.context_id
             WHERE t.finished_at < $1 AND t.seq <= c.applied_seq
             LIMIT $2)",
    )
    .bind(finished_before)
    .bind(batch)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let contexts = sqlx::query(
        "DELETE FROM contexts WHERE (principal, context_id) IN (
             SELECT c.principal, c.context_id FROM contexts c
             WHERE c.updated_at < $1 AND c.applied_seq = c.last_seq
               AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.principal = c.principal AND t.context_id = c.context_id)
               AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.principal = c.principal AND s.context_id = c.context_id)
               AND NOT EXISTS (SELECT 1 FROM checkouts k WHERE k.principal = c.principal AND k.context_id = c.context_id)
             LIMIT $2)",
    )
    .bind(finished_before)
    .bind(batch)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let webhook_deliveries = sqlx::query(
        "DELETE FROM webhook_deliveries WHERE id IN (
             SELECT id FROM webhook_deliveries WHERE delivered_at < $1 LIMIT $2)",
    )
    .bind(finished_before)
    .bind(batch)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Some(Purged {
        processed_messages,
        tasks,
        contexts,
        webhook_deliveries,
    }))
}
