//! A stored task as the A2A 0.3 Task object.

use chrono::SecondsFormat;
use schemas::a2a::{Message, Task, TaskKind, TaskStatus};
use serde_json::value::RawValue;
use store::tasks::TaskRow;

use crate::error::Error;

/// The A2A Task for a stored task; `metadata.usage` holds what its model calls cost.
/// `history_length`: `None` = the whole history (the user's
/// message, then the agent's reply), `Some(0)` = none, `Some(n)` = the last `n`, oldest first.
fn task(row: TaskRow, history_length: Option<u32>) -> Task {
    let reply = row.reply;
    let artifacts = row.artifacts;
    let mut history: Vec<Message> = std::iter::once(row.request).chain(reply.clone()).collect();
    let keep = history_length.map_or(history.len(), |n| (n as usize).min(history.len()));
    history.drain(..history.len() - keep);
    Task {
        kind: TaskKind::Task,
        id: row.id.to_string(),
        context_id: row.context_id,
        status: TaskStatus {
            state: row.state,
            message: reply.or(row.status_message),
            timestamp: Some(row.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        },
        history: (!history.is_empty()).then_some(history),
        artifacts: (!artifacts.is_empty()).then_some(artifacts),
        metadata: row.usage.map(|usage| {
            let mut metadata = serde_json::Map::new();
            metadata.insert("usage".to_owned(), serde_json::json!(usage));
            metadata
        }),
    }
}

/// The A2A Task for a stored task, serialised: the `result` of a JSON-RPC answer.
pub fn render(row: TaskRow, history_length: Option<u32>) -> Result<Box<RawValue>, Error> {
    serde_json::value::to_raw_value(&task(row, history_length)).map_err(|e| Error::Internal(e.to_string()))
}
