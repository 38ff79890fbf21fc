//! Conversation sequence numbers. The ingress gives each accepted task the next number of its
//! conversation (`tasks::accept`); a worker applies task `seq` only where the conversation's `applied_seq` is
//! `seq - 1`, and moves it to `seq` in the transaction that commits the task's effects.

use sqlx::PgConnection;

use crate::Result;

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
