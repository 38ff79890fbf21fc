//! Conversation sequence numbers. The ingress gives each accepted task the next number of its
//! conversation (`tasks::accept`); a worker applies task `seq` only where the conversation's
//! `applied_seq` is `seq - 1`, and moves it to `seq` (`tasks::complete_turns`) in the
//! transaction that commits the task's effects. A dead-lettered task holds its conversation
//! (`held_seq`): later tasks wait behind it until an operator releases it.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::Result;

/// A conversation: its principal and context id.
pub type Key = (String, String);

/// Splits keys into the two parallel arrays the batch statements `unnest`.
pub(crate) fn columns(keys: &[Key]) -> (Vec<&str>, Vec<&str>) {
    keys.iter().map(|(p, c)| (p.as_str(), c.as_str())).unzip()
}

/// A conversation's fence: the last applied sequence number, and the first held one (a
/// dead-lettered task later tasks wait behind; see `dead_letters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub applied_seq: i64,
    pub held_seq: Option<i64>,
}

impl Fence {
    /// True when task `seq` is not next and waits behind a held task.
    pub fn waits_behind_held(&self, seq: i64) -> bool {
        self.applied_seq < seq - 1 && self.held_seq.is_some_and(|held| held < seq)
    }
}

/// Locks the conversations of a batch of turns and returns each one's fence; a conversation
/// that does not exist is absent from the map. Rows are locked in key order, so two batches
/// that share conversations (two workers during a redelivery) cannot deadlock.
pub async fn lock_applied_seqs(conn: &mut PgConnection, keys: &[Key]) -> Result<HashMap<Key, Fence>> {
    let (principals, context_ids) = columns(keys);
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT c.principal, c.context_id, c.applied_seq, c.held_seq
         FROM contexts c
         JOIN unnest($1::text[], $2::text[]) AS k (principal, context_id)
           ON c.principal = k.principal AND c.context_id = k.context_id
         ORDER BY c.principal, c.context_id
         FOR UPDATE OF c",
    )
    .bind(&principals)
    .bind(&context_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, c, applied_seq, held_seq)| ((p, c), Fence { applied_seq, held_seq }))
        .collect())
}

/// Says on each waiting task which held task it waits behind (in the caller's transaction).
pub async fn mark_waiting(conn: &mut PgConnection, waiting: &[(uuid::Uuid, &str, i64)]) -> Result<()> {
    if waiting.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = waiting.iter().map(|w| w.0).collect();
    let statuses: Vec<sqlx::types::Json<schemas::a2a::Message>> = waiting
        .iter()
        .map(|&(id, context_id, held)| sqlx::types::Json(crate::dead_letters::waiting_status(context_id, id, held)))
        .collect();
    sqlx::query(
        "UPDATE tasks t SET status_message = i.status, updated_at = clock_timestamp()
         FROM unnest($1::uuid[], $2::jsonb[]) AS i (id, status)
         WHERE t.id = i.id AND t.state IN ('submitted', 'working')",
    )
    .bind(&ids)
    .bind(&statuses)
    .execute(&mut *conn)
    .await?;
    crate::notify::tasks_changed(conn, &ids).await
}
