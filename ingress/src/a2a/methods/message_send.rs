//! `message/send`: validates a user message, records it as a task and publishes it.
//!
//! # Wire
//! `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message",
//! "role":"user","messageId":"m1","contextId":"c1"?,"parts":[...]},"configuration":{"blocking":false}?}}`
//! with headers `X-A2A-Extensions: <UCP extension URI>` and `UCP-Agent: profile="<url>"`.
//! -> `{"result": Task}`: at once in state `submitted` when `blocking` is false, otherwise once
//! the task is terminal or `input-required`, or when the blocking cap passes.
//! Errors: -32602 (invalid message, missing or malformed UCP headers, unusable profile, unknown
//! product, bad quantity, a messageId already used for a different message), -32001 (taskId
//! or contextId not found), -32004 (message to a task that ended),
//! HTTP 429 -32050 (a chat message after the caller's daily token budget is spent, with
//! `Retry-After` until 00:00 UTC), HTTP 503 (database or queue unavailable; resend the same
//! messageId).
//!
//! Resending a messageId with the same message returns the task it created, and applies
//! nothing twice; reusing a messageId for a different message is refused (-32602).

use axum::http::HeaderMap;
use schemas::a2a::{Message, MessageSendParams, Role};
use schemas::action::{parse_turn, Turn};
use schemas::ucp::EXTENSION_URI;
use serde_json::value::RawValue;
use store::notify::Subscription;
use store::tasks::{Accepted, NewTask};
use uuid::Uuid;

use crate::a2a::{credentials, fingerprint, task_view};
use crate::auth::Principal;
use crate::error::Error;
use crate::pipeline;
use crate::ucp::agent_header;
use crate::AppState;

/// The longest messageId or contextId accepted.
pub const MAX_ID_LEN: usize = 128;
/// The most parts one message may have.
pub const MAX_PARTS: usize = 32;
/// The longest text part accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

pub async fn handle(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    params: MessageSendParams,
) -> Result<Box<RawValue>, Error> {
    let message = params.message;
    validate_message(&message)?;
    require_extension(headers)?;
    let mut turn = parse_turn(&message).map_err(|e| Error::InvalidParams(e.to_string()))?;
    if matches!(turn, Turn::Rest { .. }) {
        return Err(Error::InvalidParams(format!(
            "the DataPart key {:?} is reserved for the UCP REST binding",
            schemas::rest::OPERATION_KEY
        )));
    }
    let digest = fingerprint::of(&message);
    let sealed = credentials::seal(&state.keyring, &mut turn, &principal.0, &message.message_id);
    if let Some(task_id) = &message.task_id {
        return Err(refuse_continuation(state, principal, task_id).await?);
    }
    if matches!(turn, Turn::Chat { .. }) {
        check_token_budget(state, principal).await?;
    }
    let agent = agent_header::parse(headers.get("ucp-agent").and_then(|v| v.to_str().ok()))?;
    let capabilities = state
        .profiles
        .negotiate(&agent.profile, agent.version.as_deref())
        .await?
        .capabilities;
    if let Turn::Action { action } = &turn {
        if let Some(product_id) = action.product_id() {
            if state.catalog.get(product_id).await?.is_none() {
                return Err(Error::InvalidParams(format!("unknown product {product_id:?}")));
            }
        }
    }

    // Ids the service makes are time-ordered (UUIDv7): each new key lands at the right edge of
    // its index instead of on a random page, so a commit dirties fewer pages and the first
    // writes after a checkpoint log fewer full pages (BENCHMARKS.md, issue 11).
    let context_id = message.context_id.clone().unwrap_or_else(|| Uuid::now_v7().to_string());
    let task_id = Uuid::now_v7();
    let blocking = params.configuration.as_ref().and_then(|c| c.blocking).unwrap_or(true);
    // A blocking send listens before the task exists, so no change can slip past it.
    let subscription = blocking.then(|| state.watcher.subscribe(task_id));
    let first_change = subscription.as_ref().map(Subscription::changed);

    let mut request = message;
    request.context_id = Some(context_id.clone());
    request.task_id = Some(task_id.to_string());
    let message_id = request.message_id.clone();
    request.redact_secrets();
    let new = NewTask {
        id: task_id,
        principal: principal.0.clone(),
        context_id: context_id.clone(),
        message_id: message_id.clone(),
        request,
        request_digest: digest.clone(),
        sealed_credential: sealed.clone(),
        capabilities: capabilities.clone(),
    };
    let (row, resent) = match state.tasks.accept(new).await? {
        Accepted::New(row) => (row, false),
        Accepted::Existing(row) if row.request_digest.as_ref().is_some_and(|first| *first != digest) => {
            return Err(Error::MessageIdReused(message_id));
        }
        Accepted::Existing(row) => (row, true),
    };
    crate::request_id::record_task(&row.id, &row.context_id);
    // The span already carries task_id and context_id (record_task).
    tracing::info!(seq = row.seq, resent, "task accepted");
    if resent {
        pipeline::republish(state, &row).await?;
    } else {
        pipeline::publish_new(state, &row, turn, sealed.as_deref(), capabilities).await?;
    }

    let history_length = params.configuration.as_ref().and_then(|c| c.history_length);
    let row = match (&subscription, first_change) {
        (Some(subscription), Some(first_change)) if !resent => {
            pipeline::wait_for_end(state, principal, subscription, first_change, row).await?
        }
        (Some(_), _) => pipeline::wait_for_existing(state, principal, row.id).await?,
        (None, _) => row,
    };
    task_view::render(row, history_length)
}

/// Refuses a chat turn once the principal's tokens today reach `LLM_DAILY_TOKENS_PER_PRINCIPAL`.
async fn check_token_budget(state: &AppState, principal: &Principal) -> Result<(), Error> {
    let Some(budget) = state.config.llm_daily_tokens_per_principal else {
        return Ok(());
    };
    let spent = store::usage::today(&state.db, &[principal.0.as_str()]).await?;
    if spent.get(&principal.0).copied().unwrap_or(0) < budget {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let midnight = (now.date_naive() + chrono::Days::new(1)).and_time(chrono::NaiveTime::MIN).and_utc();
    let retry_after_secs = (midnight - now).num_seconds().max(1) as u64;
    Err(Error::TokenBudgetExhausted {
        budget,
        retry_after_secs,
    })
}

fn validate_message(message: &Message) -> Result<(), Error> {
    let invalid = |reason: &str| Err(Error::InvalidParams(reason.to_owned()));
    if message.role != Role::User {
        return invalid("message.role must be \"user\"");
    }
    if message.message_id.trim().is_empty() || message.message_id.len() > MAX_ID_LEN {
        return invalid(&format!("message.messageId must be 1 to {MAX_ID_LEN} bytes"));
    }
    if message.parts.is_empty() {
        return invalid("message.parts must hold at least one part");
    }
    if message.parts.len() > MAX_PARTS {
        return invalid(&format!("message.parts holds more than {MAX_PARTS} parts"));
    }
    for (i, part) in message.parts.iter().enumerate() {
        if let schemas::a2a::Part::Text { text, .. } = part {
            if text.len() > MAX_TEXT_BYTES {
                return invalid(&format!("message.parts[{i}].text is longer than {MAX_TEXT_BYTES} bytes"));
            }
        }
    }
    if let Some(context_id) = &message.context_id {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if context_id.is_empty() || context_id.len() > MAX_ID_LEN || !context_id.chars().all(allowed) {
            return invalid(&format!(
                "message.contextId must be 1 to {MAX_ID_LEN} characters of A-Z a-z 0-9 - _ . :"
            ));
        }
    }
    Ok(())
}

/// The UCP A2A binding requires the extension to be activated on every request.
fn require_extension(headers: &HeaderMap) -> Result<(), Error> {
    let activated = ["x-a2a-extensions", "a2a-extensions"].iter().any(|name| {
        headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|uri| uri.trim() == EXTENSION_URI)
    });
    if activated {
        Ok(())
    } else {
        Err(Error::InvalidParams(format!(
            "the UCP extension is required: send the header X-A2A-Extensions: {EXTENSION_URI}"
        )))
    }
}

/// Every turn creates its own task and ends it, so a message naming an existing task is refused:
/// with -32001 if the caller has no such task, with -32004 otherwise.
async fn refuse_continuation(state: &AppState, principal: &Principal, task_id: &str) -> Result<Error, Error> {
    let Ok(id) = task_id.parse() else {
        return Ok(Error::TaskNotFound);
    };
    Ok(match state.tasks.get(&principal.0, id).await? {
        None => Error::TaskNotFound,
        Some(task) if task.state.is_terminal() => Error::UnsupportedOperation(format!(
            "task {task_id} is {} and accepts no more messages",
            task.state.as_str()
        )),
        Some(task) => Error::UnsupportedOperation(format!(
            "task {task_id} is {}; send the next message without taskId (each message is its own task)",
            task.state.as_str()
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn extension_header_must_name_the_ucp_uri() {
        let mut headers = HeaderMap::new();
        assert!(require_extension(&headers).is_err());
        headers.insert(
            "x-a2a-extensions",
            HeaderValue::from_static("https://other.example, https://ucp.dev/specification/reference?v=2026-01-11"),
        );
        assert!(require_extension(&headers).is_ok());
    }
}
