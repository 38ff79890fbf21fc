//! Dead-lettered tasks in the database: failed attempts counted, a task held (its conversation
//! waits behind it) and released by an operator's replay or discard.
//!
//! While a task of a conversation is dead-lettered, its conversation's `held_seq` names it:
//! later tasks are not applied out of order but wait, saying why. Releasing it recomputes
//! `held_seq` and returns the tasks that must be published again, in order, for the
//! conversation to move on: the released one (run again, or a failed one that only moves the
//! fence) and those that waited behind it.

use chrono::{DateTime, Utc};
use schemas::a2a::{Message, Part};
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::tasks::{TaskRow, COLUMNS};
use crate::{notify, Result};

/// What a task's status says while it is held.
pub const HELD_STATUS: &str = "This message failed and is held for an operator, who will replay or discard it; \
                               later messages of this conversation wait until then.";

/// Counts one failed attempt at a task's turn and keeps its error. Returns the failure times.
pub async fn record_failure(pool: &PgPool, id: Uuid, error: &str) -> Result<Option<Failures>> {
    Ok(sqlx::query_as(
        "UPDATE tasks SET failures = failures + 1, first_failure_at = coalesce(first_failure_at, clock_timestamp()),
                last_failure_at = clock_timestamp(), last_error = $2
         WHERE id = $1
         RETURNING failures, first_failure_at, last_failure_at, last_error",
    )
    .bind(id)
    .bind(error)
    .fetch_optional(pool)
    .await?)
}

/// A task's failed attempts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Failures {
    pub failures: i32,
    pub first_failure_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The outcome of [`hold`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The task is dead-lettered now (or was already); its conversation waits behind it.
    Held(Failures),
    /// Its turn was applied already: there is nothing to hold.
    Applied,
    /// There is no such task in this database.
    NoTask,
}

/// Marks a task dead-lettered and makes its conversation wait behind it. With `error` `None`
/// the task's last recorded error is kept (the server gave up delivering it).
pub async fn hold(pool: &PgPool, id: Uuid, error: Option<&str>) -> Result<Hold> {
    let mut tx = pool.begin().await?;
    let found: Option<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT t.principal, t.context_id, t.seq, c.applied_seq
         FROM tasks t JOIN contexts c ON c.principal = t.principal AND c.context_id = t.context_id
         WHERE t.id = $1
         FOR UPDATE OF c, t",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((principal, context_id, seq, applied_seq)) = found else {
        return Ok(Hold::NoTask);
    };
    if applied_seq >= seq {
        return Ok(Hold::Applied);
    }
    let status = status(&context_id, id, HELD_STATUS);
    let failures: Failures = sqlx::query_as(
        "UPDATE tasks SET dead_lettered_at = coalesce(dead_lettered_at, clock_timestamp()),
                first_failure_at = coalesce(first_failure_at, clock_timestamp()),
                last_failure_at = clock_timestamp(), last_error = coalesce($2, last_error),
                status_message = CASE WHEN state IN ('submitted', 'working') THEN $3 ELSE status_message END,
                updated_at = clock_timestamp()
         WHERE id = $1
         RETURNING failures, first_failure_at, last_failure_at, last_error",
    )
    .bind(id)
    .bind(error)
    .bind(Json(&status))
    .fetch_one(&mut *tx)
    .await?;
    // least() ignores NULL: the first held task sets it.
    sqlx::query("UPDATE contexts SET held_seq = least(held_seq, $3), updated_at = clock_timestamp() WHERE principal = $1 AND context_id = $2")
        .bind(&principal)
        .bind(&context_id)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    notify::task_changed(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Hold::Held(failures))
}

/// What an operator does with a dead-lettered task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Run it again, in its place (the task goes back to `submitted`).
    Replay,
    /// Fail it visibly and let the conversation move on.
    Discard,
}

/// The outcome of [`release`].
#[derive(Debug)]
pub struct Released {
    /// The task's turn had been applied before (nothing of it runs again).
    pub applied_before: bool,
    /// The tasks to publish again, in conversation order: the released one (unless applied)
    /// and those that waited behind it, up to the conversation's next held task.
    pub republish: Vec<TaskRow>,
}

/// Releases a dead-lettered task (or one released before whose republish did not finish:
/// releasing is idempotent). `None` if there is no such task.
pub async fn release(pool: &PgPool, id: Uuid, how: Release) -> Result<Option<Released>> {
    let mut tx = pool.begin().await?;
    let found: Option<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT t.principal, t.context_id, t.seq, c.applied_seq
         FROM tasks t JOIN contexts c ON c.principal = t.principal AND c.context_id = t.context_id
         WHERE t.id = $1
         FOR UPDATE OF c, t",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((principal, context_id, seq, applied_seq)) = found else {
        return Ok(None);
    };
    match how {
        Release::Replay => {
            sqlx::query(
                "UPDATE tasks SET dead_lettered_at = NULL, status_message = NULL, updated_at = clock_timestamp(),
                        state = CASE WHEN state = 'working' THEN 'submitted' ELSE state END
                 WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        Release::Discard => {
            let text = format!("An operator discarded this message after it failed (reference {id}).");
            let reply = status(&context_id, id, &text);
            sqlx::query(
                "UPDATE tasks SET dead_lettered_at = NULL, status_message = NULL, updated_at = clock_timestamp(),
                        state = CASE WHEN state IN ('submitted', 'working') THEN 'failed' ELSE state END,
                        reply = CASE WHEN state IN ('submitted', 'working') THEN $2 ELSE reply END,
                        finished_at = coalesce(finished_at, clock_timestamp()), sealed_credential = NULL
                 WHERE id = $1",
            )
            .bind(id)
            .bind(Json(&reply))
            .execute(&mut *tx)
            .await?;
        }
    }
    let (held_seq,): (Option<i64>,) = sqlx::query_as(
        "UPDATE contexts c SET held_seq = (
             SELECT min(t.seq) FROM tasks t
             WHERE t.principal = c.principal AND t.context_id = c.context_id
               AND t.seq > c.applied_seq AND t.dead_lettered_at IS NOT NULL)
         WHERE c.principal = $1 AND c.context_id = $2
         RETURNING c.held_seq",
    )
    .bind(&principal)
    .bind(&context_id)
    .fetch_one(&mut *tx)
    .await?;
    let republish: Vec<TaskRow> = sqlx::query_as(&format!(
        "UPDATE tasks SET status_message = NULL, updated_at = clock_timestamp()
         WHERE principal = $1 AND context_id = $2 AND seq > $3 AND ($4::bigint IS NULL OR seq < $4)
         RETURNING {COLUMNS}"
    ))
    .bind(&principal)
    .bind(&context_id)
    .bind(applied_seq)
    .bind(held_seq)
    .fetch_all(&mut *tx)
    .await?;
    let mut republish = republish;
    republish.sort_by_key(|task| task.seq);
    let mut changed: Vec<Uuid> = republish.iter().map(|task| task.id).collect();
    changed.push(id);
    notify::tasks_changed(&mut tx, &changed).await?;
    tx.commit().await?;
    Ok(Some(Released {
        applied_before: applied_seq >= seq,
        republish,
    }))
}

/// The status message of a waiting task: which earlier message it waits behind.
pub fn waiting_status(context_id: &str, id: Uuid, held_seq: i64) -> Message {
    let text = format!(
        "Waiting: message {held_seq} of this conversation failed and is held for an operator; this one runs after it is replayed or discarded."
    );
    status(context_id, id, &text)
}

fn status(context_id: &str, id: Uuid, text: &str) -> Message {
    Message::agent(Uuid::new_v4().to_string(), context_id, &id.to_string(), vec![Part::text(text)])
}
