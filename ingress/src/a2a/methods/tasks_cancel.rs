//! `tasks/cancel`: cancels a task no worker has run yet.
//!
//! # Wire
//! `{"jsonrpc":"2.0","id":1,"method":"tasks/cancel","params":{"id":"<task id>"}}` -> `{"result": Task}`
//! in state `canceled`. Errors: -32602, -32001 (not found for this caller), -32002 (the task
//! already ran or ended).

use schemas::a2a::TaskIdParams;
use serde_json::value::RawValue;
use store::tasks::Cancel;

use crate::a2a::task_view;
use crate::auth::Principal;
use crate::error::Error;
use crate::AppState;

pub async fn handle(state: &AppState, principal: &Principal, params: TaskIdParams) -> Result<Box<RawValue>, Error> {
    let id = params.id.parse().map_err(|_| Error::TaskNotFound)?;
    let row = match store::tasks::cancel(&state.db, &principal.0, id).await? {
        Cancel::Canceled(row) => row,
        Cancel::NotCancelable(row) => return Err(Error::TaskNotCancelable(row.state.as_str())),
        Cancel::NotFound => return Err(Error::TaskNotFound),
    };
    crate::request_id::record_task(&row.id, &row.context_id);
    task_view::render(row, None)
}
