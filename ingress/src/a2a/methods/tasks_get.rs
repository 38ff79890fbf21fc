//! `tasks/get`: a task of the caller's.
//!
//! # Wire
//! `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"<task id>","historyLength":2}}`
//! -> `{"result": Task}`. Errors: -32602 (bad params), -32001 (no such task for this caller:
//! another principal's task is "not found" too).

use schemas::a2a::TaskQueryParams;
use serde_json::value::RawValue;

use crate::a2a::task_view;
use crate::auth::Principal;
use crate::error::Error;
use crate::AppState;

pub async fn handle(state: &AppState, principal: &Principal, params: TaskQueryParams) -> Result<Box<RawValue>, Error> {
    let id = params.id.parse().map_err(|_| Error::TaskNotFound)?;
    let row = state.tasks.get(&principal.0, id).await?.ok_or(Error::TaskNotFound)?;
    crate::request_id::record_task(&row.id, &row.context_id);
    task_view::render(row, params.history_length)
}
