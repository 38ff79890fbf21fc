//! Conversation sequence numbers. The ingress gives each accepted task the next number of its
//! conversation; a worker applies task `seq` only where the conversation's `applied_seq` is
//! `seq - 1`, and moves it to `seq` in the transaction that commits the task's effects.

use sqlx::PgConnection;

use crate::Result;

/// Creates the conversation if needed and takes its next sequence number. Holds the
/// conversation's row lock until the caller's transaction ends, so numbers follow commit order.
pub async fn take_next_seq(conn: &mut PgConnection, principal: &str, context_id: &str) -> Result<i64> {
    let seq = sqlx::query_scalar(
        "INSERT INTO contexts (principal, context_id, last_seq) VALUES ($1, $2, 1)
         ON CONFLICT (principal, context_id)
         DO UPDATE SET last_seq = contexts.last_seq + 1, updated_at = now()
         RETURNING last_seq",
    )
    .bind(principal)
    .bind(context_id)
    .fetch_one(conn)
    .await?;
    Ok(seq)
}

/// Locks the conversation for a worker's turn and returns its `applied_seq`.
pub async fn lock_applied_seq(conn: &mut PgConnection, principal: &str, context_id: &str) -> Result<Option<i64>> {
    let applied = sqlx::query_scalar(
        "SELECT applied_seq FROM contexts WHERE principal = $1 AND context_id = $2 FOR UPDATE",
    )
    .bind(principal)
    .bind(context_id)
    .fetch_optional(conn)
    .await?;
    Ok(applied)
}

/// Records that task `seq` of the conversation has been applied. Guarded: moves only from
/// `seq - 1`, so it returns false if the fence does not hold.
pub async fn advance_applied_seq(conn: &mut PgConnection, principal: &str, context_id: &str, seq: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE contexts SET applied_seq = $3, updated_at = now()
         WHERE principal = $1 AND context_id = $2 AND applied_seq = $3 - 1",
    )
    .bind(principal)
    .bind(context_id)
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the principal has a conversation with this id.
pub async fn exists(conn: &mut PgConnection, principal: &str, context_id: &str) -> Result<bool> {
    let found = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM contexts WHERE principal = $1 AND context_id = $2)")
        .bind(principal)
        .bind(context_id)
        .fetch_one(conn)
        .await?;
    Ok(found)
}
