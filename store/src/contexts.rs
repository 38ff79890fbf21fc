//! Conversation sequence numbers. The ingress gives each accepted task the next number of its
//! conversation (`tasks::accept`); a worker applies task `seq` only where the conversation's
//! `applied_seq` is `seq - 1`, and moves it to `seq` (`tasks::complete_turns`) in the
//! transaction that commits the task's effects.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::Result;

/// A conversation: its principal and context id.
pub type Key = (String, String);

/// Splits keys into the two parallel arrays the batch statements `unnest`.
pub(crate) fn columns(keys: &[Key]) -> (Vec<&str>, Vec<&str>) {
    keys.iter().map(|(p, c)| (p.as_str(), c.as_str())).unzip()
}

/// Locks the conversations of a batch of turns and returns each one's `applied_seq`; a
/// conversation that does not exist is absent from the map. Rows are locked in key order, so
/// two batches that share conversations (two workers during a redelivery) cannot deadlock.
pub async fn lock_applied_seqs(conn: &mut PgConnection, keys: &[Key]) -> Result<HashMap<Key, i64>> {
    let (principals, context_ids) = columns(keys);
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT c.principal, c.context_id, c.applied_seq
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
    Ok(rows.into_iter().map(|(p, c, seq)| ((p, c), seq)).collect())
}
