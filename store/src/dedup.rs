//! Processed JetStream messages. Recording a message id shares the transaction of its effects,
//! so "recorded" and "applied" are the same fact.

use std::collections::HashSet;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// Records each `(msg_id, task_id)` as processed and returns the message ids recorded now. An
/// id missing from the answer was processed before: the caller skips its effects.
pub async fn record_processed(conn: &mut PgConnection, messages: &[(String, Uuid)]) -> Result<HashSet<String>> {
    let (msg_ids, task_ids): (Vec<&str>, Vec<Uuid>) = messages.iter().map(|(m, t)| (m.as_str(), *t)).unzip();
    let recorded: Vec<String> = sqlx::query_scalar(
        "INSERT INTO processed_messages (msg_id, task_id)
         SELECT * FROM unnest($1::text[], $2::uuid[])
         ON CONFLICT ON CONSTRAINT processed_messages_pkey DO NOTHING
         RETURNING msg_id",
    )
    .bind(&msg_ids)
    .bind(&task_ids)
    .fetch_all(conn)
    .await?;
    Ok(recorded.into_iter().collect())
}
