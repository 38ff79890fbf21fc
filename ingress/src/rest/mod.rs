//! The UCP REST binding (UCP 2026-01-11): checkout sessions and orders over plain HTTP, on the
//! same ordered, idempotent write path as A2A.
//!
//! A mutation is parsed into a `schemas::rest::Operation`, recorded as a task of the checkout's
//! conversation (its messageId is the `Idempotency-Key`, its fingerprint the method, path and
//! body), published to the conversation's partition, and answered with the response the worker
//! stored, once it has, within `BLOCKING_TIMEOUT`; past that the answer is a retryable 503 (the
//! same request with the same key then returns the stored response). The same key with the same
//! request replays that response byte for byte; with a different request it is 409. Reads
//! (`GET`) come straight from the store.
//!
//! - [`headers`]: `UCP-Agent` (version negotiation, the platform profile), `Idempotency-Key`.
//! - [`checkout_sessions`]: `/checkout-sessions` and its `complete` and `cancel`.
//! - [`orders`]: `/orders/{id}` and the shipping simulation.
//! - [`principal`]: who a REST request acts for.

pub mod checkout_sessions;
pub mod headers;
pub mod orders;
pub mod principal;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use schemas::a2a::{Message, Part, Role};
use schemas::action::Turn;
use schemas::rest::{Operation, OPERATION_KEY, RESPONSE_KEY};

use serde_json::Value;
use store::tasks::{Accepted, NewTask, TaskRow};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{Error, Ucp};
use crate::pipeline;
use crate::AppState;

/// The REST routes, at the root of `PUBLIC_URL` (the business profile's REST endpoint).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/checkout-sessions", post(checkout_sessions::create))
        .route(
            "/checkout-sessions/{id}",
            get(checkout_sessions::get).put(checkout_sessions::update),
        )
        .route("/checkout-sessions/{id}/complete", post(checkout_sessions::complete))
        .route("/checkout-sessions/{id}/cancel", post(checkout_sessions::cancel))
        .route("/orders/{id}", get(orders::get).put(orders::update))
        .route("/testing/simulate-shipping/{id}", post(orders::simulate_shipping))
}

/// One mutation as the ingress records it.
pub struct Mutation<'a> {
    pub principal: &'a Principal,
    pub key: String,
    /// The conversation (partition) the checkout belongs to.
    pub context_id: String,
    /// The request as the client sent it: method, path and body, for the fingerprint.
    pub method: &'static str,
    pub path: String,
    pub body: &'a [u8],
    pub operation: Operation,
    pub capabilities: schemas::capabilities::Capabilities,
}

/// Records and publishes the mutation (or finds the one this key recorded before) and answers
/// with the worker's response.
pub async fn submit(state: &AppState, mutation: Mutation<'_>) -> Result<Response, Ucp> {
    let Mutation {
        principal,
        key,
        context_id,
        method,
        path,
        body,
        mut operation,
        capabilities,
    } = mutation;
    let digest = fingerprint(&state.keyring, method, &path, body);
    let message_id = format!("rest:{key}");
    let mut turn = Turn::Rest {
        operation: operation.clone(),
    };
    let sealed = crate::a2a::credentials::seal(&state.keyring, &mut turn, &principal.0, &message_id);
    let task_id = Uuid::now_v7();
    let subscription = state.watcher.subscribe(task_id);
    let first_change = subscription.changed();
    if let Some(payment) = operation.payment_mut() {
        payment.instrument.credential = None;
    }
    let mut data = serde_json::Map::new();
    data.insert(
        OPERATION_KEY.to_owned(),
        serde_json::to_value(&operation).map_err(|e| Error::Internal(e.to_string()))?,
    );
    let mut request = Message {
        kind: Default::default(),
        role: Role::User,
        message_id: message_id.clone(),
        context_id: Some(context_id.clone()),
        task_id: Some(task_id.to_string()),
        parts: vec![Part::data(data)],
        metadata: None,
        extensions: None,
        reference_task_ids: None,
    };
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
    let row = match state.tasks.accept(new).await? {
        Accepted::New(row) => {
            pipeline::publish_new(state, &row, turn, sealed.as_deref(), capabilities).await?;
            pipeline::wait_for_end(state, principal, &subscription, first_change, row).await?
        }
        Accepted::Existing(row) if row.request_digest.as_ref().is_some_and(|first| *first != digest) => {
            return Err(Error::IdempotencyConflict(key).into());
        }
        Accepted::Existing(row) => {
            pipeline::republish(state, &row).await?;
            pipeline::wait_for_existing(state, principal, row.id).await?
        }
    };
    crate::request_id::record_task(&row.id, &row.context_id);
    stored_response(&row)
}

/// The HTTP response a finished REST task stored; a task not finished within the blocking cap
/// is a retryable 503.
fn stored_response(row: &TaskRow) -> Result<Response, Ucp> {
    let stored = row.reply.as_ref().and_then(|reply| {
        reply.parts.iter().find_map(|part| match part {
            Part::Data { data, .. } => data.get(RESPONSE_KEY).cloned(),
            _ => None,
        })
    });
    let Some(stored) = stored else {
        if row.state.is_terminal() {
            return Err(Error::Internal(format!(
                "task {} ended without a REST response ({})",
                row.id,
                row.state.as_str()
            ))
            .into());
        }
        return Err(Error::StillRunning.into());
    };
    let response: schemas::rest::Response =
        serde_json::from_value(stored).map_err(|e| Error::Internal(format!("stored REST response: {e}")))?;
    Ok(json_response(response.status, &response.body))
}

/// A JSON body with a status.
pub fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// The keyed digest (see `vault::Keyring::digest`) of method, path and the body's canonical
/// JSON (keys sorted, no whitespace), so a resend is recognised whatever its key order and a
/// changed request, a changed credential included, is not; the digest stored never lets a
/// credential be guessed.
fn fingerprint(keyring: &vault::Keyring, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let canonical = zeroize::Zeroizing::new(crate::a2a::fingerprint::canonical(&value));
    let mut data = zeroize::Zeroizing::new(Vec::with_capacity(canonical.len() + path.len() + 8));
    data.extend_from_slice(method.as_bytes());
    data.push(0);
    data.extend_from_slice(path.as_bytes());
    data.push(0);
    data.extend_from_slice(canonical.as_bytes());
    keyring.digest(&data)
}

/// A request's body, read whole; a body over `MAX_BODY_BYTES` is a UCP error (413) like any
/// other refusal of the binding.
pub struct Body(pub axum::body::Bytes);

impl axum::extract::FromRequest<AppState> for Body {
    type Rejection = Ucp;

    async fn from_request(request: axum::extract::Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::BodyTooLarge(state.config.max_body_bytes).into())
            }
            Err(rejection) => {
                Err(Error::InvalidRequest(format!("could not read the body: {}", rejection.body_text())).into())
            }
        }
    }
}

/// The request's body as JSON of type `T`, or a 400 naming what is wrong.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"{}")
            .map_err(|e| Error::InvalidRequest(format!("the request needs a JSON body: {e}")));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::InvalidRequest(format!("the body is not valid JSON: {inner}"))
        } else {
            Error::InvalidRequest(format!("{path}: {inner}"))
        }
    })
}

/// The id in a path, checked for size and characters before it reaches a query.
pub fn path_id(id: &str) -> Result<&str, Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
    if id.is_empty() || id.len() > 128 || !id.chars().all(allowed) {
        return Err(Error::NotFound(format!(
            "no such resource {:?}",
            id.chars().take(64).collect::<String>()
        )));
    }
    Ok(id)
}

/// The headers every mutation needs checked, in the order the UCP binding checks them.
pub fn mutation_headers(headers: &HeaderMap) -> Result<(headers::Agent, String), Error> {
    let agent = headers::agent(headers)?;
    let key = headers::idempotency_key(headers)?;
    Ok((agent, key))
}
