//! A stored task as the A2A 0.3 Task object.

use chrono::SecondsFormat;
use schemas::a2a::{Artifact, Message, Task, TaskKind, TaskStatus};
use serde_json::value::RawValue;
use store::tasks::TaskRow;

use crate::error::Error;

/// The A2A Task for a stored task. `history_length`: `None` = the whole history (the user's
/// message, then the agent's reply), `Some(0)` = none, `Some(n)` = the last `n`, oldest first.
fn task(row: TaskRow, history_length: Option<u32>) -> Result<Task, Error> {
    let reply: Option<Message> = row.reply.map(serde_json::from_value).transpose().map_err(stored)?;
    let request: Message = serde_json::from_value(row.request).map_err(stored)?;
    let artifacts: Vec<Artifact> = serde_json::from_value(row.artifacts).map_err(stored)?;
    let mut history: Vec<Message> = std::iter::once(request).chain(reply.clone()).collect();
    let keep = history_length.map_or(history.len(), |n| (n as usize).min(history.len()));
    history.drain(..history.len() - keep);
    Ok(Task {
        kind: TaskKind::Task,
        id: row.id.to_string(),
        context_id: row.context_id,
        status: TaskStatus {
            state: row.state,
            message: reply,
            timestamp: Some(row.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        },
        history: (!history.is_empty()).then_some(history),
        artifacts: (!artifacts.is_empty()).then_some(artifacts),
    })
}

/// The A2A Task for a stored task, serialised: the `result` of a JSON-RPC answer.
pub fn render(row: TaskRow, history_length: Option<u32>) -> Result<Box<RawValue>, Error> {
    let task = task(row, history_length)?;
    serde_json::value::to_raw_value(&task).map_err(|e| Error::Internal(e.to_string()))
}

fn stored(error: serde_json::Error) -> Error {
    Error::Internal(format!("stored task does not parse: {error}"))
}
