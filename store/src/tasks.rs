//! Tasks: accepted by the ingress, finished by a worker, read and cancelled by their owner.
//! Every read and write is scoped to the principal that owns the task.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use schemas::a2a::{Artifact, Message};
use schemas::action::parse_turn;
use schemas::agent::Usage;
use schemas::capabilities::Capabilities;
use schemas::{TaskEnvelope, TaskState};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::{fail_each, notify, violated_constraint, Error, Result, SharedError};

pub(crate) const COLUMNS: &str = "id, principal, context_id, seq, message_id, state::text AS state, request, request_digest, sealed_credential, capabilities, \
                       reply, artifacts, usage, status_message, created_at, updated_at, finished_at";

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
    pub request: Message,
    /// The fingerprint of the message as the client sent it (`None` for tasks recorded before
    /// fingerprints were kept).
    pub request_digest: Option<Vec<u8>>,
    /// The payment credential, sealed, until the task finishes.
    pub sealed_credential: Option<String>,
    /// Capabilities negotiated with the client's UCP profile at acceptance.
    pub capabilities: Capabilities,
    /// The agent's reply message, once the turn ran.
    pub reply: Option<Message>,
    pub artifacts: Vec<Artifact>,
    /// Tokens the turn's model calls used, once it ran with the agent.
    pub usage: Option<Usage>,
    /// What the worker says while it is on the turn (e.g. that the assistant is temporarily
    /// unavailable), until the reply replaces it.
    pub status_message: Option<Message>,
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
            request: row.try_get::<Json<Message>, _>("request")?.0,
            request_digest: row.try_get("request_digest")?,
            sealed_credential: row.try_get("sealed_credential")?,
            capabilities: row.try_get::<Json<Capabilities>, _>("capabilities")?.0,
            reply: row.try_get::<Option<Json<Message>>, _>("reply")?.map(|reply| reply.0),
            artifacts: row.try_get::<Json<Vec<Artifact>>, _>("artifacts")?.0,
            usage: row.try_get::<Option<Json<Usage>>, _>("usage")?.map(|usage| usage.0),
            status_message: row
                .try_get::<Option<Json<Message>>, _>("status_message")?
                .map(|message| message.0),
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
        let mut turn = parse_turn(&self.request).map_err(|e| Error::StoredRequest(e.to_string()))?;
        if let (Some(sealed), Some(payment)) = (&self.sealed_credential, turn.payment_mut()) {
            payment.set_sealed_credential(sealed);
        }
        Ok(TaskEnvelope {
            task_id: self.id,
            principal: self.principal.clone(),
            context_id: self.context_id.clone(),
            seq: self.seq,
            message_id: self.message_id.clone(),
            turn,
            capabilities: self.capabilities.clone(),
            accepted_at: self.created_at,
        })
    }
}

/// A task the ingress is about to record.
pub struct NewTask {
    pub id: Uuid,
    pub principal: String,
    pub context_id: String,
    pub message_id: String,
    /// The user's message, credentials already redacted.
    pub request: Message,
    /// The fingerprint of the message as the client sent it.
    pub request_digest: Vec<u8>,
    /// The payment credential, sealed by the ingress.
    pub sealed_credential: Option<String>,
    pub capabilities: Capabilities,
}

/// The outcome of [`accept`].
#[derive(Debug)]
pub enum Accepted {
    /// The task was recorded now, with the conversation's next sequence number.
    New(TaskRow),
    /// The principal sent this messageId before: this is the task it created then.
    Existing(TaskRow),
}

/// One task's outcome in [`accept`]; a failure may be shared by the whole batch.
pub type AcceptResult = std::result::Result<Accepted, SharedError>;

/// Records tasks in state `submitted`, each with the next sequence number of its conversation
/// (in the order given, for tasks of the same conversation). A messageId the principal already
/// used returns the existing task instead, however many copies arrive at once: the unique
/// constraint decides, not a prior read.
///
/// A batch is one statement (one round trip, one commit). If it fails on a constraint (a copy of
/// a messageId recorded concurrently) or the batch repeats a messageId, the tasks are accepted
/// one by one, which resolves each copy to the task that won.
pub async fn accept(pool: &PgPool, tasks: Vec<NewTask>) -> Vec<AcceptResult> {
    if tasks.len() > 1 && !repeats_message_id(&tasks) {
        let size = tasks.len();
        match accept_batch(pool, tasks).await {
            Ok(accepted) => return accepted,
            Err((error, _)) if error.is_unavailable() => {
                return fail_each(size, error);
            }
            Err((error, tasks)) => {
                tracing::debug!(%error, size, "batch accept failed; accepting one by one");
                return accept_each(pool, tasks).await;
            }
        }
    }
    accept_each(pool, tasks).await
}

fn repeats_message_id(tasks: &[NewTask]) -> bool {
    let mut seen = HashSet::with_capacity(tasks.len());
    !tasks.iter().all(|t| seen.insert((&t.principal, &t.message_id)))
}

/// Accepts tasks one statement each. Once the database is found unavailable, the rest get the
/// same error at once instead of each waiting for a connection.
async fn accept_each(pool: &PgPool, tasks: Vec<NewTask>) -> Vec<AcceptResult> {
    let mut outcomes: Vec<AcceptResult> = Vec::with_capacity(tasks.len());
    for task in tasks {
        let unavailable = outcomes
            .iter()
            .rev()
            .find_map(|o| o.as_ref().err().filter(|e| e.is_unavailable()));
        let outcome = match unavailable {
            Some(error) => Err(error.clone()),
            None => accept_one(pool, task).await.map_err(SharedError::new),
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// What the database assigned to a task it recorded now.
#[derive(sqlx::FromRow)]
struct Recorded {
    id: Uuid,
    seq: i64,
    created_at: DateTime<Utc>,
}

impl Recorded {
    /// The stored row, built from what the caller sent and what the database assigned: the
    /// documents are not sent back.
    fn into_row(self, task: NewTask) -> TaskRow {
        TaskRow {
            id: self.id,
            principal: task.principal,
            context_id: task.context_id,
            seq: self.seq,
            message_id: task.message_id,
            state: TaskState::Submitted,
            request: task.request,
            request_digest: Some(task.request_digest),
            sealed_credential: task.sealed_credential,
            capabilities: task.capabilities,
            reply: None,
            artifacts: Vec::new(),
            usage: None,
            status_message: None,
            created_at: self.created_at,
            updated_at: self.created_at,
            finished_at: None,
        }
    }
}

/// Accepts distinct tasks in one statement: skip messageIds already recorded, take each
/// conversation's next sequence numbers (conversations locked in key order; a context of
/// another principal is left alone and its task refused), insert the tasks.
/// On failure the tasks are handed back for the one-by-one path.
async fn accept_batch(pool: &PgPool, tasks: Vec<NewTask>) -> std::result::Result<Vec<AcceptResult>, (Error, Vec<NewTask>)> {
    let recorded = sqlx::query_as::<_, Recorded>(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bytea[], $7::text[], $8::jsonb[])
                 WITH ORDINALITY AS i (id, principal, context_id, message_id, request, request_digest, sealed_credential,
                                       capabilities, ord)
         ), fresh AS (
             SELECT i.*, row_number() OVER (PARTITION BY i.principal, i.context_id ORDER BY i.ord) AS nth
             FROM input i
             WHERE NOT EXISTS (
                 SELECT 1 FROM tasks t WHERE t.message_id = i.message_id AND t.principal = i.principal
             )
         ), counts AS (
             SELECT principal, context_id, count(*) AS n FROM fresh GROUP BY principal, context_id
         ), context AS (
             INSERT INTO contexts (principal, context_id, last_seq)
             SELECT principal, context_id, n FROM counts ORDER BY context_id
             ON CONFLICT (context_id)
             DO UPDATE SET last_seq = contexts.last_seq + EXCLUDED.last_seq, updated_at = now()
             WHERE contexts.principal = EXCLUDED.principal
             RETURNING principal, context_id, last_seq
         )
         INSERT INTO tasks (id, principal, context_id, seq, message_id, request, request_digest, sealed_credential,
                            capabilities)
         SELECT f.id, f.principal, f.context_id, c.last_seq - n.n + f.nth, f.message_id, f.request,
                f.request_digest, f.sealed_credential, f.capabilities
         FROM fresh f
         JOIN context c ON c.principal = f.principal AND c.context_id = f.context_id
         JOIN counts n ON n.principal = f.principal AND n.context_id = f.context_id
         RETURNING id, seq, created_at",
    )
    .bind(tasks.iter().map(|t| t.id).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| t.principal.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| t.context_id.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| t.message_id.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| Json(&t.request)).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| t.request_digest.as_slice()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| t.sealed_credential.as_deref()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| Json(&t.capabilities)).collect::<Vec<_>>())
    .fetch_all(pool)
    .await;
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(error) => return Err((error.into(), tasks)),
    };
    let mut recorded: HashMap<Uuid, Recorded> = recorded.into_iter().map(|r| (r.id, r)).collect();
    let resent: Vec<&NewTask> = tasks.iter().filter(|t| !recorded.contains_key(&t.id)).collect();
    let mut existing = match find_by_message_ids(pool, &resent).await {
        Ok(existing) => existing,
        Err(error) => return Err((error, tasks)),
    };
    let mut accepted = Vec::with_capacity(tasks.len());
    for task in tasks {
        accepted.push(match recorded.remove(&task.id) {
            Some(recorded) => Ok(Accepted::New(recorded.into_row(task))),
            None => match existing.remove(&(task.principal.clone(), task.message_id.clone())) {
                Some(row) => Ok(Accepted::Existing(row)),
                // Neither recorded nor a resend: its context belongs to another principal (the
                // context upsert returned no row for it).
                None => Err(SharedError::new(Error::ForeignContext(task.context_id))),
            },
        });
    }
    Ok(accepted)
}

/// The tasks created by resent messages, by (principal, messageId).
async fn find_by_message_ids(pool: &PgPool, resent: &[&NewTask]) -> Result<HashMap<(String, String), TaskRow>> {
    if resent.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<TaskRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks
         WHERE (message_id, principal) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
    ))
    .bind(resent.iter().map(|t| t.message_id.as_str()).collect::<Vec<_>>())
    .bind(resent.iter().map(|t| t.principal.as_str()).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ((row.principal.clone(), row.message_id.clone()), row))
        .collect())
}

/// Accepts one task in one statement (take the conversation's next sequence number, insert);
/// a unique violation on the messageId means a copy won, and returns its task.
///
/// The first messages of a new conversation may race to create its context row. The upsert's
/// arbiter is the global `context_id` key, but the row has a second unique key (the primary
/// key, principal and context id), and PostgreSQL resolves a race on a key that is not the
/// arbiter with a unique violation instead of the update. The loser runs the statement again:
/// by then the winner's row is committed and the upsert takes its update path.
async fn accept_one(pool: &PgPool, task: NewTask) -> Result<Accepted> {
    let recorded = match insert_one(pool, &task).await {
        Err(e) if violated_constraint(&e) == Some("contexts_pkey") => insert_one(pool, &task).await,
        recorded => recorded,
    };
    match recorded {
        Ok(recorded) => Ok(Accepted::New(recorded.into_row(task))),
        // The context exists for another principal: the upsert returned no row, so no task.
        Err(sqlx::Error::RowNotFound) => Err(Error::ForeignContext(task.context_id)),
        Err(e) if violated_constraint(&e) == Some("tasks_message_id_principal_key") => {
            let existing = find_by_message_id(pool, &task.principal, &task.message_id)
                .await?
                .ok_or(Error::Database(e))?;
            Ok(Accepted::Existing(existing))
        }
        Err(e) => Err(e.into()),
    }
}

/// The statement of [`accept_one`].
async fn insert_one(pool: &PgPool, task: &NewTask) -> std::result::Result<Recorded, sqlx::Error> {
    sqlx::query_as::<_, Recorded>(
        "WITH context AS (
             INSERT INTO contexts (principal, context_id, last_seq) VALUES ($2, $3, 1)
             ON CONFLICT (context_id)
             DO UPDATE SET last_seq = contexts.last_seq + 1, updated_at = now()
             WHERE contexts.principal = EXCLUDED.principal
             RETURNING last_seq
         )
         INSERT INTO tasks (id, principal, context_id, seq, message_id, request, request_digest, sealed_credential,
                            capabilities)
         SELECT $1, $2, $3, context.last_seq, $4, $5, $6, $7, $8 FROM context
         RETURNING id, seq, created_at",
    )
    .bind(task.id)
    .bind(&task.principal)
    .bind(&task.context_id)
    .bind(&task.message_id)
    .bind(Json(&task.request))
    .bind(&task.request_digest)
    .bind(&task.sealed_credential)
    .bind(Json(&task.capabilities))
    .fetch_one(pool)
    .await
}

/// The principal's tasks by id, in the order asked; `None` where a task does not exist or
/// belongs to someone else. One statement for many concurrent readers.
pub async fn get_many(pool: &PgPool, keys: &[(String, Uuid)]) -> Result<Vec<Option<TaskRow>>> {
    let rows: Vec<TaskRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE (id, principal) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))"
    ))
    .bind(keys.iter().map(|(_, id)| *id).collect::<Vec<_>>())
    .bind(keys.iter().map(|(principal, _)| principal.as_str()).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    // The same task may be asked for more than once (copies of one message waiting together):
    // each asker but the last gets a copy.
    let mut rows: HashMap<Uuid, TaskRow> = rows.into_iter().map(|row| (row.id, row)).collect();
    let mut askers: HashMap<Uuid, usize> = HashMap::new();
    for (_, id) in keys {
        *askers.entry(*id).or_default() += 1;
    }
    Ok(keys
        .iter()
        .map(|(_, id)| {
            let left = askers.get_mut(id).map(|n| {
                *n -= 1;
                *n
            });
            match left {
                Some(0) => rows.remove(id),
                _ => rows.get(id).cloned(),
            }
        })
        .collect())
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
        "UPDATE tasks SET state = 'canceled', sealed_credential = NULL, updated_at = now(), finished_at = now()
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

/// Locks the tasks of a batch of turns (in id order) and returns the state of each that exists.
pub async fn lock_for_turns(conn: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, TaskState>> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, state::text FROM tasks WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, state)| TaskState::parse(&state).map(|state| (id, state)))
        .collect())
}

/// A turn's result, written to its task.
pub struct TurnResult {
    pub state: TaskState,
    pub reply: Message,
    pub artifacts: Vec<Artifact>,
    /// What the agent's model calls cost, for a chat turn.
    pub usage: Option<Usage>,
}

/// A turn to close: its conversation's fence moves from `seq - 1` to `seq`, and its task gets
/// `result` (`None` for a task that is skipped because it was cancelled).
pub struct TurnClose<'a> {
    pub principal: &'a str,
    pub context_id: &'a str,
    pub seq: i64,
    pub id: Uuid,
    pub result: Option<TurnResult>,
}

/// Closes a batch of turns in one statement: writes each result to its task (only if the task
/// is still `submitted` or `working`, so a late worker cannot overwrite a cancelled or finished
/// task), advances each conversation's fence, and notifies waiters on commit. Timestamps are
/// taken when the statement runs, after the conversations were locked, so a turn's status time
/// is never earlier than its predecessor's.
pub async fn complete_turns(conn: &mut PgConnection, turns: &[TurnClose<'_>]) -> Result<()> {
    let ids: Vec<Uuid> = turns.iter().map(|t| t.id).collect();
    sqlx::query(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                                  $6::jsonb[], $7::jsonb[], $8::bool[], $9::jsonb[])
                 AS i (id, principal, context_id, seq, state, reply, artifacts, terminal, usage)
         ), finished AS (
             UPDATE tasks t SET state = i.state::task_state, reply = i.reply, artifacts = i.artifacts,
                    usage = i.usage, status_message = NULL, sealed_credential = NULL, updated_at = clock_timestamp(),
                    finished_at = CASE WHEN i.terminal THEN clock_timestamp() END
             FROM input i
             WHERE t.id = i.id AND i.state IS NOT NULL AND t.state IN ('submitted', 'working')
         ), advanced AS (
             UPDATE contexts c SET applied_seq = i.seq, updated_at = clock_timestamp()
             FROM input i
             WHERE c.principal = i.principal AND c.context_id = i.context_id AND c.applied_seq = i.seq - 1
         )
         SELECT pg_notify($10, payload) FROM unnest($11::text[]) AS payload",
    )
    .bind(&ids)
    .bind(turns.iter().map(|t| t.principal).collect::<Vec<_>>())
    .bind(turns.iter().map(|t| t.context_id).collect::<Vec<_>>())
    .bind(turns.iter().map(|t| t.seq).collect::<Vec<_>>())
    .bind(
        turns
            .iter()
            .map(|t| t.result.as_ref().map(|r| r.state.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind(
        turns
            .iter()
            .map(|t| t.result.as_ref().map(|r| Json(&r.reply)))
            .collect::<Vec<_>>(),
    )
    .bind(
        turns
            .iter()
            .map(|t| t.result.as_ref().map(|r| Json(&r.artifacts)))
            .collect::<Vec<_>>(),
    )
    .bind(
        turns
            .iter()
            .map(|t| t.result.as_ref().is_some_and(|r| r.state.is_terminal()))
            .collect::<Vec<_>>(),
    )
    .bind(
        turns
            .iter()
            .map(|t| t.result.as_ref().and_then(|r| r.usage.as_ref()).map(Json))
            .collect::<Vec<_>>(),
    )
    .bind(notify::CHANNEL)
    .bind(notify::payloads(&ids))
    .execute(conn)
    .await?;
    Ok(())
}

/// A turn the agent is about to start: its task and conversation.
pub struct Start<'a> {
    pub id: Uuid,
    pub principal: &'a str,
    pub context_id: &'a str,
}

/// Where a turn the agent is about to start stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The conversation's fence.
    pub applied_seq: i64,
    /// The conversation's first held (dead-lettered) task, if any.
    pub held_seq: Option<i64>,
    /// The task's state before this call (a due turn is now `working`).
    pub state: TaskState,
}

/// Reads where each turn stands, and moves the due ones (the conversation's fence is just before
/// them and the task is `submitted`) to `working`. One statement for a batch; `None` where the
/// task or its conversation does not exist. Waiters are not woken: a blocking send waits for
/// the end, and `tasks/get` reads the state.
pub async fn start_turns(pool: &PgPool, turns: &[Start<'_>]) -> Result<Vec<Option<Standing>>> {
    let ids: Vec<Uuid> = turns.iter().map(|t| t.id).collect();
    let rows: Vec<(Uuid, i64, Option<i64>, String)> = sqlx::query_as(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS i (id, principal, context_id)
         ), standing AS (
             SELECT t.id, t.seq, t.state, c.applied_seq, c.held_seq
             FROM input i
             JOIN tasks t ON t.id = i.id AND t.principal = i.principal AND t.context_id = i.context_id
             JOIN contexts c ON c.principal = t.principal AND c.context_id = t.context_id
         ), started AS (
             -- Runs although nothing reads it: data-modifying CTEs always do.
             UPDATE tasks t SET state = 'working', updated_at = clock_timestamp()
             FROM standing s
             WHERE t.id = s.id AND s.applied_seq = s.seq - 1 AND s.state = 'submitted'
             RETURNING t.id
         )
         SELECT s.id, s.applied_seq, s.held_seq, s.state::text FROM standing s",
    )
    .bind(&ids)
    .bind(turns.iter().map(|t| t.principal).collect::<Vec<_>>())
    .bind(turns.iter().map(|t| t.context_id).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    let mut standing: HashMap<Uuid, Standing> = rows
        .into_iter()
        .filter_map(|(id, applied_seq, held_seq, state)| {
            TaskState::parse(&state).map(|state| {
                let standing = Standing {
                    applied_seq,
                    held_seq,
                    state,
                };
                (id, standing)
            })
        })
        .collect();
    Ok(ids.iter().map(|id| standing.remove(id)).collect())
}

/// Sets what the task's status says while a worker is on it, and notifies waiters.
pub async fn set_status_message(pool: &PgPool, id: Uuid, message: &Message) -> Result<()> {
    let mut tx = pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE tasks SET status_message = $2, updated_at = clock_timestamp()
         WHERE id = $1 AND state IN ('submitted', 'working')",
    )
    .bind(id)
    .bind(Json(message))
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() > 0 {
        notify::task_changed(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How many tasks are in each state (states without tasks are absent).
pub async fn count_by_state(pool: &PgPool) -> Result<Vec<(TaskState, i64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT state::text, count(*) FROM tasks GROUP BY state")
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(state, count)| TaskState::parse(&state).map(|state| (state, count)))
        .collect())
}
