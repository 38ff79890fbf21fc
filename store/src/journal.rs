//! The turn journal: each model response of a turn, written the moment it arrives, outside the
//! turn's transaction. A redelivered turn reads its journal and calls the provider only for the
//! steps it never got, so a crash re-pays nothing and replays the same decisions.

use std::collections::HashMap;

use schemas::agent::ModelReply;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::Result;

/// A model response for step `step` of task `task_id`'s turn.
pub struct Entry {
    pub task_id: Uuid,
    pub step: i32,
    pub reply: ModelReply,
}

/// The journaled replies of these tasks' turns, each in step order.
pub async fn read(conn: &mut PgConnection, task_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<ModelReply>>> {
    if task_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Json<ModelReply>)> =
        sqlx::query_as("SELECT task_id, response FROM turn_journal WHERE task_id = ANY($1) ORDER BY task_id, step")
            .bind(task_ids)
            .fetch_all(conn)
            .await?;
    let mut journals: HashMap<Uuid, Vec<ModelReply>> = HashMap::new();
    for (task_id, Json(reply)) in rows {
        journals.entry(task_id).or_default().push(reply);
    }
    Ok(journals)
}

/// Journals a batch of replies (one statement) and returns, for each, the reply the journal
/// holds for its step: the one given, or the one an earlier delivery wrote first (which the
/// turn must then follow, so two deliveries never diverge). Only those earlier replies travel
/// back.
pub async fn record(pool: &PgPool, entries: &[Entry]) -> Result<Vec<ModelReply>> {
    let task_ids: Vec<Uuid> = entries.iter().map(|e| e.task_id).collect();
    let steps: Vec<i32> = entries.iter().map(|e| e.step).collect();
    let earlier: Vec<(Uuid, i32, Json<ModelReply>)> = sqlx::query_as(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::int[], $3::jsonb[]) AS i (task_id, step, response)
         ), written AS (
             INSERT INTO turn_journal (task_id, step, response)
             SELECT task_id, step, response FROM input
             ON CONFLICT ON CONSTRAINT turn_journal_pkey DO NOTHING
             RETURNING task_id, step
         )
         SELECT j.task_id, j.step, j.response
         FROM input i JOIN turn_journal j ON j.task_id = i.task_id AND j.step = i.step
         WHERE NOT EXISTS (SELECT 1 FROM written w WHERE w.task_id = i.task_id AND w.step = i.step)",
    )
    .bind(&task_ids)
    .bind(&steps)
    .bind(entries.iter().map(|e| Json(&e.reply)).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    let mut earlier: HashMap<(Uuid, i32), ModelReply> =
        earlier.into_iter().map(|(task_id, step, Json(reply))| ((task_id, step), reply)).collect();
    Ok(entries
        .iter()
        .map(|e| earlier.remove(&(e.task_id, e.step)).unwrap_or_else(|| e.reply.clone()))
        .collect())
}
