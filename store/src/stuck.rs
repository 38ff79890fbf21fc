//! Tasks stuck in `working`: a worker started the turn and then nothing changed for far longer
//! than any turn's deadline (model timeouts, retries and steps included). The stuck-task
//! sweeper fails such a task visibly and moves its conversation's fence past it, as an
//! operator's discard of a dead letter does, so the conversation goes on; a worker that still
//! holds the turn finds it finished and lets it go, and a late commit is refused by the fence.

use chrono::{DateTime, Utc};
use schemas::a2a::{Message, Part};
use schemas::TaskState;
use sqlx::PgPool;
use uuid::Uuid;

use crate::tasks::{complete_turns, TurnClose, TurnResult};
use crate::Result;

/// Tasks `working` whose last change is older than `before`, and whose conversation waits for
/// them (the fence is just before them), oldest first.
pub async fn working_before(pool: &PgPool, before: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>> {
    let ids = sqlx::query_scalar(
        "SELECT t.id FROM tasks t
         JOIN contexts c ON c.principal = t.principal AND c.context_id = t.context_id AND c.applied_seq = t.seq - 1
         WHERE t.state = 'working' AND t.updated_at < $1
         ORDER BY t.updated_at LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(ids)
}

/// Fails task `id` with `text` if it is still `working`, unchanged since before `before`, and
/// next in its conversation; returns whether it did. A turn whose transaction holds the rows is
/// not waited for longer than 2 s (an error; the next pass tries again).
pub async fn fail(pool: &PgPool, id: Uuid, before: DateTime<Utc>, text: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL lock_timeout = '2s'").execute(&mut *tx).await?;
    let found: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT t.principal, t.context_id, t.seq
         FROM tasks t JOIN contexts c ON c.principal = t.principal AND c.context_id = t.context_id
         WHERE t.id = $1 AND t.state = 'working' AND t.updated_at < $2 AND c.applied_seq = t.seq - 1
         FOR UPDATE OF c, t",
    )
    .bind(id)
    .bind(before)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((principal, context_id, seq)) = found else {
        return Ok(false);
    };
    let reply = Message::agent(Uuid::new_v4().to_string(), &context_id, &id.to_string(), vec![Part::text(text)]);
    let close = TurnClose {
        principal: &principal,
        context_id: &context_id,
        seq,
        id,
        result: Some(TurnResult {
            state: TaskState::Failed,
            reply,
            artifacts: Vec::new(),
            usage: None,
        }),
    };
    complete_turns(&mut tx, &[close]).await?;
    tx.commit().await?;
    Ok(true)
}

/// Whether task `id` was settled (it is neither `submitted` nor `working`, or it is gone): a
/// worker still running its turn can let it go.
pub async fn is_settled(pool: &PgPool, id: Uuid) -> Result<bool> {
    let open: Option<bool> = sqlx::query_scalar("SELECT state IN ('submitted', 'working') FROM tasks WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(open != Some(true))
}
