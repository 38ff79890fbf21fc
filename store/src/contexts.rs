//! Conversation sequence numbers. The ingress gives each accepted task the next number of its
//! conversation (`tasks::accept`); a worker applies task `seq` only where the conversation's
//! `applied_seq` is `seq - 1`, and moves it to `seq` (`tasks::complete_turn`) in the
//! transaction that commits the task's effects.

use sqlx::PgConnection;

use crate::Result;

/// Locks the conversation for a worker's turn and returns its `applied_seq`.
pub async fn lock_applied_seq(conn: &mut PgConnection, principal: &str, context_id: &str) -> Result<Option<i64>> {
    let applied =
        sqlx::query_scalar("SELECT applied_seq FROM contexts WHERE principal = $1 AND context_id = $2 FOR UPDATE")
            .bind(principal)
            .bind(context_id)
            .fetch_optional(conn)
            .await?;
    Ok(applied)
}
