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
