//! Processed JetStream messages. Recording a message id shares the transaction of its effects,
//! so "recorded" and "applied" are the same fact.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// Records `msg_id` as processed. Returns false if it already was: the caller skips the effects.
pub async fn record_processed(conn: &mut PgConnection, msg_id: &str, task_id: Uuid) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO processed_messages (msg_id, task_id) VALUES ($1, $2)
         ON CONFLICT ON CONSTRAINT processed_messages_pkey DO NOTHING",
    )
    .bind(msg_id)
    .bind(task_id)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Whether `msg_id` has been processed.
pub async fn is_processed(conn: &mut PgConnection, msg_id: &str) -> Result<bool> {
    let found = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM processed_messages WHERE msg_id = $1)")
        .bind(msg_id)
        .fetch_one(conn)
        .await?;
    Ok(found)
}
