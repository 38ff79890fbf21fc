//! What the reconciler republishes: of each conversation, only the task that is next to apply
//! (`seq = applied_seq + 1`); the later ones wait behind it anyway, and republishing them would
//! only add parked copies. A conversation held behind a dead letter is left alone (an operator's
//! replay or discard republishes it).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::tasks::{TaskRow, COLUMNS};
use crate::Result;

/// The next task of each conversation that has one, accepted and last touched before `before`,
/// oldest first. Cancelled ones are included: the fence must still move past them.
pub async fn next_unapplied_before(pool: &PgPool, before: DateTime<Utc>, limit: i64) -> Result<Vec<TaskRow>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query_as(&format!(
        "SELECT {cols} FROM contexts c
         JOIN tasks t ON t.principal = c.principal AND t.context_id = c.context_id AND t.seq = c.applied_seq + 1
         WHERE c.applied_seq < c.last_seq AND c.held_seq IS NULL AND t.created_at < $1 AND t.updated_at < $1
         ORDER BY t.created_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Marks task `id` as republished now, so the next pass waits `after` again before looking at
/// it (and judges whether it is queued against this publish, not the first).
pub async fn mark_republished(pool: &PgPool, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE tasks SET updated_at = clock_timestamp() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
