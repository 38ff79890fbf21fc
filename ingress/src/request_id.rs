//! Request ids and the span of each request.
//!
//! Every request gets an id: the client's `X-Request-Id` (or `Request-Id`, as the UCP REST
//! binding names it) if it is 1 to 128 visible ASCII characters, else a new UUID. It is answered in `X-Request-Id`, is the `request_id` of the
//! request's span (so of every log line of the request), and travels with the task to the worker
//! in the NATS message's `X-Request-Id` header (read back by `queue::publish`). The span also
//! gets `task_id` and `context_id` once the method knows them ([`record_task`]), and continues
//! the client's trace if the request carries a W3C `traceparent`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, Response};
use axum::middleware::Next;
use lifecycle::telemetry::{valid_request_id, REQUEST_ID_HEADER};
use tracing::field::Empty;
use tracing::Span;

/// The request id header of the UCP REST binding.
const UCP_REQUEST_ID_HEADER: &str = "request-id";

/// The request's id, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Middleware (outside the trace layer): picks the request id, keeps it for the request's span
/// and its publishes, and answers it.
pub async fn assign(mut request: Request, next: Next) -> axum::response::Response {
    let id: Arc<str> = [REQUEST_ID_HEADER, UCP_REQUEST_ID_HEADER]
        .iter()
        .find_map(|name| request.headers().get(*name))
        .and_then(|value| value.to_str().ok())
        .filter(|value| valid_request_id(value))
        .map(Arc::from)
        .unwrap_or_else(|| Arc::from(uuid::Uuid::new_v4().to_string()));
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = lifecycle::telemetry::with_request_id(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The span of one request (the trace layer's `make_span_with`): a server span, child of the
/// client's trace context if it sent one.
pub fn span<B>(request: &axum::http::Request<B>) -> Span {
    let method = request.method();
    let path = request.uri().path();
    // Set at creation rather than recorded after: every record of a field re-formats it.
    let request_id = request.extensions().get::<RequestId>().map(|RequestId(id)| &**id);
    let span = tracing::info_span!(
        "request",
        %method,
        path,
        request_id,
        task_id = Empty,
        context_id = Empty,
        "otel.kind" = "server",
        "otel.name" = format!("{method} {}", route(path)),
        "http.response.status_code" = Empty,
        "otel.status_code" = Empty,
    );
    lifecycle::telemetry::set_parent_http(&span, request.headers());
    span
}

/// The trace layer's `on_response`: the status on the span, and the usual debug line.
pub fn on_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    tracing::debug!(
        status = status.as_u16(),
        latency_ms = latency.as_millis() as u64,
        "finished processing request"
    );
}

/// Records the task a request is about on its span: every later line of the request carries it.
pub fn record_task(task_id: &uuid::Uuid, context_id: &str) {
    let span = Span::current();
    span.record("task_id", tracing::field::display(task_id));
    span.record("context_id", context_id);
}

/// A low-cardinality name for a path (span names must not carry ids).
fn route(path: &str) -> &str {
    match path {
        "/"
        | "/health"
        | "/ready"
        | "/metrics"
        | "/.well-known/agent-card.json"
        | "/.well-known/ucp"
        | "/admin/dlq"
        | "/admin/dlq/replay"
        | "/admin/dlq/discard" => path,
        _ if path.starts_with("/images/") => "/images/{file}",
        _ if path.starts_with("/admin/dlq/") => "/admin/dlq/{id}",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_carry_no_ids() {
        assert_eq!(route("/"), "/");
        assert_eq!(route("/images/BISC-001.png"), "/images/{file}");
        assert_eq!(route("/admin/dlq/17/replay"), "/admin/dlq/{id}");
        assert_eq!(route("/nope/123"), "other");
    }
}
