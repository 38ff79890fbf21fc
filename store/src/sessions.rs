//! Agent sessions: the bounded chat history and the negotiated capabilities of each
//! conversation. A worker reads the sessions of the turns it is about to run, and appends each
//! turn's exchange in the transaction that commits the turn. Idle sessions are swept.

use std::collections::HashMap;

use schemas::agent::Exchange;
use schemas::capabilities::Capabilities;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use crate::contexts::{columns, Key};
use crate::Result;

/// A conversation's session as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Session {
    /// The last exchanges, oldest first.
    pub history: Vec<Exchange>,
    pub capabilities: Capabilities,
}

/// The sessions of these conversations; a conversation without one is absent.
pub async fn load(conn: &mut PgConnection, keys: &[Key]) -> Result<HashMap<Key, Session>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (principals, context_ids) = columns(keys);
    type Row = (String, String, Json<Vec<Exchange>>, Json<Capabilities>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.principal, s.context_id, s.history, s.capabilities
         FROM sessions s
         JOIN unnest($1::text[], $2::text[]) AS k (principal, context_id)
           ON s.principal = k.principal AND s.context_id = k.context_id",
    )
    .bind(&principals)
    .bind(&context_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(principal, context_id, Json(history), Json(capabilities))| {
            ((principal, context_id), Session { history, capabilities })
        })
        .collect())
}

/// A turn's exchange, to append to its conversation's session.
pub struct Append<'a> {
    pub key: &'a Key,
    pub exchange: &'a Exchange,
    pub capabilities: &'a Capabilities,
}

/// Appends each exchange to its session (creating it), keeping the last `keep` exchanges. One
/// statement for a batch of turns, each of a different conversation.
pub async fn append(conn: &mut PgConnection, turns: &[Append<'_>], keep: usize) -> Result<()> {
    if turns.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO sessions AS s (principal, context_id, history, capabilities, updated_at)
         SELECT i.principal, i.context_id, jsonb_build_array(i.exchange), i.capabilities, clock_timestamp()
         FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::jsonb[])
              AS i (principal, context_id, exchange, capabilities)
         ON CONFLICT ON CONSTRAINT sessions_pkey DO UPDATE SET
             history = (
                 SELECT coalesce(jsonb_agg(e.value ORDER BY e.ord), '[]'::jsonb)
                 FROM jsonb_array_elements(s.history || EXCLUDED.history) WITH ORDINALITY AS e (value, ord)
                 WHERE e.ord > jsonb_array_length(s.history) + 1 - $5
             ),
             capabilities = EXCLUDED.capabilities,
             updated_at = EXCLUDED.updated_at",
    )
    .bind(turns.iter().map(|t| t.key.0.as_str()).collect::<Vec<_>>())
    .bind(turns.iter().map(|t| t.key.1.as_str()).collect::<Vec<_>>())
    .bind(turns.iter().map(|t| Json(t.exchange)).collect::<Vec<_>>())
    .bind(turns.iter().map(|t| Json(t.capabilities)).collect::<Vec<_>>())
    .bind(keep as i64)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes up to `limit` sessions whose conversation has been idle (no message accepted, no
/// turn applied) for `idle`, with the journals of the conversation's tasks. Returns how many
/// sessions went.
pub async fn sweep(pool: &PgPool, idle: chrono::Duration, limit: i64) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let swept: Vec<(String, String)> = sqlx::query_as(
        "DELETE FROM sessions s
         WHERE (s.principal, s.context_id) IN (
             SELECT s.principal, s.context_id FROM sessions s
             JOIN contexts c ON c.principal = s.principal AND c.context_id = s.context_id
             WHERE s.updated_at < now() - $1 AND c.updated_at < now() - $1
               AND c.applied_seq = c.last_seq
             ORDER BY s.updated_at LIMIT $2
             FOR UPDATE OF s SKIP LOCKED
         )
         RETURNING s.principal, s.context_id",
    )
    .bind(idle)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if swept.is_empty() {
        return Ok(0);
    }
    let (principals, context_ids) = columns(&swept);
    sqlx::query(
        "DELETE FROM turn_journal j USING tasks t, unnest($1::text[], $2::text[]) AS k (principal, context_id)
         WHERE j.task_id = t.id AND t.principal = k.principal AND t.context_id = k.context_id",
    )
    .bind(&principals)
    .bind(&context_ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(swept.len() as u64)
}
