//! Tasks: accepted by the ingress, finished by a worker, read and cancelled by their owner.
//! Every read and write is scoped to the principal that owns the task.

use chrono::{DateTime, Utc};
use schemas::a2a::Message;
use schemas::action::parse_turn;
use schemas::{TaskEnvelope, TaskState};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::{notify, violated_constraint, Error, Result};

const COLUMNS: &str = "id, principal, context_id, seq, message_id, state::text AS state, request, capabilities, \
                       reply, artifacts, created_at, updated_at, finished_at";

/// A task as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub id: Uuid,
    pub principal: String,
    pub context_id: String,
    pub seq: i64,
    pub message_id: String,
    pub state: TaskState,
    /// The user's message (credentials redacted).
    pub request: Value,
    /// Capabilities negotiated with the client's UCP profile at acceptance.
    pub capabilities: Value,
    /// The agent's reply message, once the turn ran.
    pub reply: Option<Value>,
    pub artifacts: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl<'r> sqlx::FromRow<'r, PgRow> for TaskRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let state: String = row.try_get("state")?;
        Ok(TaskRow {
            id: row.try_get("id")?,
            principal: row.try_get("principal")?,
            context_id: row.try_get("context_id")?,
            seq: row.try_get("seq")?,
            message_id: row.try_get("message_id")?,
            state: TaskState::parse(&state)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown task state {state}").into()))?,
            request: row.try_get("request")?,
            capabilities: row.try_get("capabilities")?,
            reply: row.try_get("reply")?,
            artifacts: row.try_get("artifacts")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    }
}

impl TaskRow {
    /// The envelope this task travels in on JetStream, rebuilt from what was stored: the
    /// ingress publishes it after recording the task, the reconciler republishes it.
    pub fn envelope(&self) -> Result<TaskEnvelope> {
        let message: Message = serde_json::from_value(self.request.clone())?;
        let turn = parse_turn(&message).map_err(|e| Error::StoredRequest(e.to_string()))?;
        Ok(TaskEnvelope {
            task_id: self.id,
            principal: self.principal.clone(),
            context_id: self.context_id.clone(),
            seq: self.seq,
            message_id: self.message_id.clone(),
            turn,
            capabilities: serde_json::from_value(self.capabilities.clone())?,
            accepted_at: self.created_at,
        })
    }
}

/// A task the ingress is about to record.
pub struct NewTask<'a> {
    pub id: Uuid,
    pub principal: &'a str,
    pub context_id: &'a str,
    pub message_id: &'a str,
    pub request: &'a Value,
    pub capabilities: &'a Value,
}

/// The outcome of [`accept`].
#[derive(Debug)]
pub enum Accepted {
    /// The task was recorded now, with the conversation's next sequence number.
    New(TaskRow),
    /// The principal sent this messageId before: this is the task it created then.
    Existing(TaskRow),
}

/// Records a task in state `submitted` with the next sequence number of its conversation (one
/// statement, so one round trip and an implicit transaction). A messageId the principal already
/// used returns the existing task instead, however many copies arrive at once: the unique
/// constraint decides, not a prior read.
pub async fn accept(pool: &PgPool, new: NewTask<'_>) -> Result<Accepted> {
    let inserted = sqlx::query_as::<_, TaskRow>(&format!(
        "WITH context AS (
             INSERT INTO contexts (principal, context_id, last_seq) VALUES ($2, $3, 1)
             ON CONFLICT (principal, context_id)
             DO UPDATE SET last_seq = contexts.last_seq + 1, updated_at = now()
             RETURNING last_seq
         )
         INSERT INTO tasks (id, principal, context_id, seq, message_id, request, capabilities)
         SELECT $1, $2, $3, context.last_seq, $4, $5, $6 FROM context
         RETURNING {COLUMNS}"
    ))
    .bind(new.id)
    .bind(new.principal)
    .bind(new.context_id)
    .bind(new.message_id)
    .bind(new.request)
    .bind(new.capabilities)
    .fetch_one(pool)
    .await;
    match inserted {
        Ok(row) => Ok(Accepted::New(row)),
        Err(e) if violated_constraint(&e) == Some("tasks_message_id_principal_key") => {
            let existing = find_by_message_id(pool, new.principal, new.message_id)
                .await?
                .ok_or(Error::Database(e))?;
            Ok(Accepted::Existing(existing))
        }
        Err(e) => Err(e.into()),
    }
}

/// The principal's task created by `message_id`, if any.
pub async fn find_by_message_id(pool: &PgPool, principal: &str, message_id: &str) -> Result<Option<TaskRow>> {
    let row = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE principal = $1 AND message_id = $2"
    ))
    .bind(principal)
    .bind(message_id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// The principal's task `id`, if it exists and belongs to them.
pub async fn get(pool: &PgPool, principal: &str, id: Uuid) -> Result<Option<TaskRow>> {
    let row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasks WHERE id = $1 AND principal = $2"))
        .bind(id)
        .bind(principal)
        .fetch_optional(pool)
        .await?;
    Ok(row)
}

/// The outcome of [`cancel`].
#[derive(Debug)]
pub enum Cancel {
    Canceled(TaskRow),
    /// The task exists but a worker already ran it (or it was cancelled before).
    NotCancelable(TaskRow),
    NotFound,
}

/// Cancels a task no worker has run yet. The worker that later receives it commits no effects
/// and only moves the conversation's fence past it.
pub async fn cancel(pool: &PgPool, principal: &str, id: Uuid) -> Result<Cancel> {
    let mut tx = pool.begin().await?;
    let canceled = sqlx::query_as::<_, TaskRow>(&format!(
        "UPDATE tasks SET state = 'canceled', updated_at = now(), finished_at = now()
         WHERE id = $1 AND principal = $2 AND state = 'submitted' RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(principal)
    .fetch_optional(&mut *tx)
    .await?;
    match canceled {
        Some(row) => {
            notify::task_changed(&mut tx, id).await?;
            tx.commit().await?;
            Ok(Cancel::Canceled(row))
        }
        None => {
            tx.rollback().await?;
            Ok(match get(pool, principal, id).await? {
                Some(row) => Cancel::NotCancelable(row),
                None => Cancel::NotFound,
            })
        }
    }
}

/// Locks a task for a worker's turn and returns its state.
pub async fn lock_for_turn(conn: &mut PgConnection, id: Uuid) -> Result<Option<TaskState>> {
    let state: Option<String> = sqlx::query_scalar("SELECT state::text FROM tasks WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(state.as_deref().and_then(TaskState::parse))
}

/// A turn's result, written to its task.
pub struct TurnResult<'a> {
    pub state: TaskState,
    pub reply: &'a Value,
    pub artifacts: &'a Value,
}

/// Closes a worker's turn in one statement (one round trip): writes the result to the task
/// (only if the task is still `submitted` or `working`, so a late worker cannot overwrite a
/// cancelled or finished task), moves the conversation's fence from `seq - 1` to `seq`, and
/// notifies waiters on commit. `result` is `None` for a task that is skipped (cancelled).
/// Returns false if the fence did not hold.
pub async fn complete_turn(
    conn: &mut PgConnection,
    principal: &str,
    context_id: &str,
    seq: i64,
    id: Uuid,
    result: Option<TurnResult<'_>>,
) -> Result<bool> {
    let advanced: i64 = sqlx::query_scalar(
        "WITH finished AS (
             UPDATE tasks SET state = $5::task_state, reply = $6, artifacts = $7, updated_at = now(),
                    finished_at = CASE WHEN $8 THEN now() END
             WHERE id = $4 AND $9 AND state IN ('submitted', 'working')
             RETURNING id
         ), advanced AS (
             UPDATE contexts SET applied_seq = $3, updated_at = now()
             WHERE principal = $1 AND context_id = $2 AND applied_seq = $3 - 1
             RETURNING applied_seq
         )
         SELECT (SELECT count(*) FROM advanced) FROM (SELECT pg_notify($10, $4::text)) AS notified",
    )
    .bind(principal)
    .bind(context_id)
    .bind(seq)
    .bind(id)
    .bind(result.as_ref().map_or("submitted", |r| r.state.as_str()))
    .bind(result.as_ref().map(|r| r.reply))
    .bind(result.as_ref().map(|r| r.artifacts))
    .bind(result.as_ref().is_some_and(|r| r.state.is_terminal()))
    .bind(result.is_some())
    .bind(notify::CHANNEL)
    .fetch_one(conn)
    .await?;
    Ok(advanced == 1)
}

/// Tasks accepted before `before` whose conversation has not applied them yet (cancelled ones
/// included: the fence must still move past them). Candidates for republishing.
pub async fn unapplied_before(pool: &PgPool, before: DateTime<Utc>, limit: i64) -> Result<Vec<TaskRow>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query_as(&format!(
        "SELECT {cols} FROM contexts c
         JOIN tasks t ON t.principal = c.principal AND t.context_id = c.context_id AND t.seq > c.applied_seq
         WHERE c.applied_seq < c.last_seq AND t.created_at < $1 ORDER BY t.created_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
