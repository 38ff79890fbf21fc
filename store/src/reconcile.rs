//! What the reconciler republishes: of each conversation, only the task that is next to apply
//! (`seq = applied_seq + 1`); the later ones wait behind it anyway, and republishing them would
//! only add parked copies. A conversation held behind a dead letter is left alone (an operator's
//! replay or discard republishes it). A worker holding a conversation's later messages may also
//! fetch the task they wait for ([`next_waited_for`]), when no copy of it can reach the worker.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::tasks::{TaskRow, COLUMNS};
use crate::Result;

/// The next task of each conversation that has one, accepted and last touched before `before`,
/// oldest first. Cancelled ones are included: the fence must still move past them.
pub async fn next_unapplied_before(pool: &PgPool, before: DateTime<Utc>, limit: i64) -> Result<Vec<TaskRow>> {
    let cols = task_columns();
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

/// [`COLUMNS`] of the tasks table aliased `t`.
fn task_columns() -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
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

/// The task conversation (`principal`, `context_id`) must apply next, if it is below `below`,
/// open (`submitted`, or `canceled`: the fence must still move past it), not behind a dead
/// letter, and untouched since `before` (no turn of it started or republish made since).
pub async fn next_waited_for(
    pool: &PgPool,
    principal: &str,
    context_id: &str,
    below: i64,
    before: DateTime<Utc>,
) -> Result<Option<TaskRow>> {
    let cols = task_columns();
    let row = sqlx::query_as(&format!(
        "SELECT {cols} FROM contexts c
         JOIN tasks t ON t.principal = c.principal AND t.context_id = c.context_id AND t.seq = c.applied_seq + 1
         WHERE c.principal = $1 AND c.context_id = $2 AND c.held_seq IS NULL AND t.seq < $3
           AND t.state IN ('submitted', 'canceled') AND t.updated_at < $4"
    ))
    .bind(principal)
    .bind(context_id)
    .bind(below)
    .bind(before)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}
