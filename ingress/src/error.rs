//! The ingress's one error type and its mapping to JSON-RPC errors and HTTP statuses.
//!
//! JSON-RPC errors travel with HTTP 200, except: 401 for authentication, 413 for an oversized
//! body, 431 for oversized headers, 429 (with `Retry-After`) for a rate limit or when the caller's daily token budget is
//! spent, 503 (with `Retry-After`) when PostgreSQL or NATS is unavailable or the ingress is at
//! capacity, 504 when a request outlives the request timeout. Internal errors get a
//! generic message; the cause is logged here and nowhere else. The admin API's REST endpoints
//! answer the same errors as [`Rest`]: an HTTP status and `{"error": {"code", "message"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemas::a2a::codes;
use serde_json::{json, Value};

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 2;
/// Seconds a client should wait after an overload answer.
pub const OVERLOAD_RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("request headers are larger than {0} bytes")]
    HeadersTooLarge(usize),
    #[error("content type {0:?} is not supported; send application/json")]
    ContentType(String),
    #[error("parse error: {0}")]
    Parse(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("method not found: {0:?}")]
    MethodNotFound(String),
    #[error("invalid params: {0}")]
    InvalidParams(String),
    #[error("invalid params: messageId {0:?} was already used for a different message; send a new message with a new messageId (a resend must repeat the message unchanged)")]
    MessageIdReused(String),
    #[error("invalid params: could not use the UCP profile at {url}: {reason}")]
    Profile {
        url: String,
        reason: crate::ucp::profiles::ProfileError,
    },
    #[error("invalid params: VERSION_UNSUPPORTED: client UCP version {0} is newer than this merchant's {v}", v = schemas::ucp::VERSION)]
    VersionUnsupported(String),
    #[error("task not found")]
    TaskNotFound,
    #[error("context not found: contextId names no conversation of yours (omit it to start one)")]
    ContextNotFound,
    #[error("task cannot be canceled: it is {0}")]
    TaskNotCancelable(&'static str),
    #[error("unsupported operation: {0}")]
    UnsupportedOperation(String),
    #[error("service temporarily unavailable ({0}); retry with the same messageId")]
    Unavailable(&'static str),
    #[error("daily model token budget of {budget} spent; chat messages are refused until 00:00 UTC (actions still work)")]
    TokenBudgetExhausted { budget: i64, retry_after_secs: u64 },
    #[error("too many requests for this {scope}: at most {limit} per second; retry after {retry_after_secs} s")]
    RateLimited {
        scope: &'static str,
        limit: u32,
        retry_after_secs: u64,
    },
    #[error("server overloaded ({0}); retry after {OVERLOAD_RETRY_AFTER_SECS} s with the same messageId")]
    Overloaded(&'static str),
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    #[error("Idempotency-Key {0:?} was already used for a different request; send a new request with a new key (a retry must repeat the request unchanged)")]
    IdempotencyConflict(String),
    #[error("the request is recorded and still being processed; retry with the same Idempotency-Key")]
    StillRunning,
    #[error("{0}")]
    Unprocessable(String),
    #[error("internal error")]
    Internal(String),
}

impl Error {
    pub fn code(&self) -> i64 {
        match self {
            Error::Unauthenticated(_)
            | Error::Forbidden(_)
            | Error::BodyTooLarge(_)
            | Error::HeadersTooLarge(_)
            | Error::InvalidRequest(_) => codes::INVALID_REQUEST,
            Error::NotFound(_) => codes::INVALID_PARAMS,
            Error::ContentType(_) => codes::CONTENT_TYPE_NOT_SUPPORTED,
            Error::Parse(_) => codes::PARSE_ERROR,
            Error::MethodNotFound(_) => codes::METHOD_NOT_FOUND,
            Error::InvalidParams(_) | Error::MessageIdReused(_) | Error::Profile { .. } | Error::VersionUnsupported(_) => {
                codes::INVALID_PARAMS
            }
            Error::TaskNotFound | Error::ContextNotFound => codes::TASK_NOT_FOUND,
            Error::TaskNotCancelable(_) => codes::TASK_NOT_CANCELABLE,
            Error::UnsupportedOperation(_) => codes::UNSUPPORTED_OPERATION,
            Error::Unavailable(_) | Error::Internal(_) => codes::INTERNAL_ERROR,
            Error::TokenBudgetExhausted { .. } => codes::TOKEN_BUDGET_EXHAUSTED,
            Error::RateLimited { .. } => codes::RATE_LIMITED,
            Error::Overloaded(_) => codes::OVERLOADED,
            Error::Timeout(_) => codes::INTERNAL_ERROR,
            Error::IdempotencyConflict(_) | Error::Unprocessable(_) => codes::INVALID_PARAMS,
            Error::StillRunning => codes::INTERNAL_ERROR,
        }
    }

    /// The error's name in snake case: the REST `code` and the `outcome` label of request
    /// metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::BodyTooLarge(_) => "body_too_large",
            Error::HeadersTooLarge(_) => "headers_too_large",
            Error::ContentType(_) => "unsupported_media_type",
            Error::Parse(_) => "parse_error",
            Error::InvalidRequest(_) => "invalid_request",
            Error::MethodNotFound(_) => "method_not_found",
            Error::InvalidParams(_) | Error::Profile { .. } | Error::VersionUnsupported(_) => "invalid_params",
            Error::MessageIdReused(_) => "message_id_reused",
            Error::TaskNotFound => "task_not_found",
            Error::ContextNotFound => "context_not_found",
            Error::TaskNotCancelable(_) => "task_not_cancelable",
            Error::UnsupportedOperation(_) => "unsupported_operation",
            Error::Unavailable(_) => "unavailable",
            Error::TokenBudgetExhausted { .. } => "token_budget_exhausted",
            Error::RateLimited { .. } => "rate_limited",
            Error::Overloaded(_) => "overloaded",
            Error::Timeout(_) => "timeout",
            Error::IdempotencyConflict(_) => "idempotency_conflict",
            Error::StillRunning => "still_running",
            Error::Unprocessable(_) => "unprocessable",
            Error::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::TokenBudgetExhausted { .. } | Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::OK,
        }
    }

    /// The JSON-RPC error object. Internal causes are logged, never sent.
    fn object(&self) -> Value {
        match self {
            Error::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                json!({ "code": self.code(), "message": self.to_string() })
            }
            Error::Unavailable(_) | Error::Timeout(_) => {
                json!({ "code": self.code(), "message": self.to_string(), "data": { "retryable": true } })
            }
            Error::RateLimited { retry_after_secs, .. } => json!({
                "code": self.code(),
                "message": self.to_string(),
                "data": { "retryable": true, "retryAfterSeconds": retry_after_secs },
            }),
            Error::Overloaded(_) => json!({
                "code": self.code(),
                "message": self.to_string(),
                "data": { "retryable": true, "retryAfterSeconds": OVERLOAD_RETRY_AFTER_SECS },
            }),
            Error::VersionUnsupported(_) => json!({
                "code": self.code(),
                "message": self.to_string(),
                "data": { "code": "VERSION_UNSUPPORTED", "supportedVersions": [schemas::ucp::VERSION] },
            }),
            Error::TokenBudgetExhausted { retry_after_secs, .. } => json!({
                "code": self.code(),
                "message": self.to_string(),
                "data": { "retryable": true, "retryAfterSeconds": retry_after_secs },
            }),
            _ => json!({ "code": self.code(), "message": self.to_string() }),
        }
    }

    /// The whole response for a request with JSON-RPC `id`.
    pub fn into_rpc_response(self, id: Value) -> Response {
        crate::metrics::refused(&self);
        let body = json!({ "jsonrpc": "2.0", "id": id, "error": self.object() });
        let mut response = (self.status(), axum::Json(body)).into_response();
        self.add_headers(&mut response);
        response
    }

    /// The headers the error calls for, whatever the body: `WWW-Authenticate` on 401,
    /// `Retry-After` on every answer that asks for a retry.
    fn add_headers(&self, response: &mut Response) {
        let retry_after = match self {
            Error::Unauthenticated(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"cartwright\", error=\"invalid_token\""),
                );
                None
            }
            Error::Unavailable(_) | Error::StillRunning => Some(RETRY_AFTER_SECS),
            Error::TokenBudgetExhausted { retry_after_secs, .. } | Error::RateLimited { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            Error::Overloaded(_) => Some(OVERLOAD_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
}

/// An error of the REST endpoints (the admin API): the HTTP status says what happened and the
/// body is `{"error": {"code": "...", "message": "..."}}`; a client mistake is never a 500.
#[derive(Debug)]
pub struct Rest(pub Error);

impl From<Error> for Rest {
    fn from(error: Error) -> Self {
        Rest(error)
    }
}

impl From<queue::Error> for Rest {
    fn from(error: queue::Error) -> Self {
        Rest(error.into())
    }
}

impl Error {
    /// The HTTP status of the error on a REST endpoint (admin API, UCP REST binding).
    fn rest_status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) | Error::TaskNotFound | Error::ContextNotFound => StatusCode::NOT_FOUND,
            Error::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unavailable(_) | Error::Overloaded(_) | Error::StillRunning => StatusCode::SERVICE_UNAVAILABLE,
            Error::RateLimited { .. } | Error::TokenBudgetExhausted { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Error::IdempotencyConflict(_) => StatusCode::CONFLICT,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A REST response with `body`: the status, and the headers the error calls for.
    fn rest_response(self, body: Value) -> Response {
        let status = self.rest_status();
        if let Error::Internal(cause) = &self {
            tracing::error!(cause = %cause, "internal error");
        }
        let mut response = (status, axum::Json(body)).into_response();
        self.add_headers(&mut response);
        response
    }
}

impl IntoResponse for Rest {
    fn into_response(self) -> Response {
        let error = self.0;
        let body = json!({ "error": { "code": error.kind(), "message": error.to_string() } });
        error.rest_response(body)
    }
}

/// An error of the UCP REST binding: the HTTP status says what happened and the body is what
/// UCP clients read, `{"detail", "code", "messages": [...]}` (`schemas::rest::error_body`).
#[derive(Debug)]
pub struct Ucp(pub Error);

impl From<Error> for Ucp {
    fn from(error: Error) -> Self {
        Ucp(error)
    }
}

impl From<store::Error> for Ucp {
    fn from(error: store::Error) -> Self {
        Ucp(error.into())
    }
}

impl IntoResponse for Ucp {
    fn into_response(self) -> Response {
        let error = self.0;
        crate::metrics::refused(&error);
        let code = match &error {
            Error::VersionUnsupported(_) => "version_unsupported",
            other => other.kind(),
        };
        let detail = match &error {
            Error::InvalidParams(reason) | Error::InvalidRequest(reason) => reason.clone(),
            other => other.to_string(),
        };
        let body = schemas::rest::error_body(code, &detail);
        error.rest_response(body)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.into_rpc_response(Value::Null)
    }
}

impl From<store::Error> for Error {
    fn from(error: store::Error) -> Self {
        Error::from(&error)
    }
}

/// A failure shared by a batch of accepted tasks.
impl From<store::SharedError> for Error {
    fn from(error: store::SharedError) -> Self {
        Error::from(&*error)
    }
}

impl From<&store::Error> for Error {
    fn from(error: &store::Error) -> Self {
        if let store::Error::ForeignContext(_) = error {
            return Error::ContextNotFound;
        }
        if error.is_unavailable() {
            tracing::warn!(%error, "PostgreSQL unavailable");
            Error::Unavailable("database")
        } else {
            Error::Internal(error.to_string())
        }
    }
}

impl From<queue::Error> for Error {
    fn from(error: queue::Error) -> Self {
        tracing::warn!(%error, "JetStream publish failed");
        Error::Unavailable("queue")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
