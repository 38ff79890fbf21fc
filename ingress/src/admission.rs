//! What a request meets before its handler: load shedding and the per-IP rate limit on the
//! A2A endpoint and the REST binding, and the request timeout everywhere.
//!
//! - At most `MAX_IN_FLIGHT` A2A requests run at once per ingress; one more is answered 503
//!   with `Retry-After` at once instead of queueing (a blocking `message/send` holds its slot
//!   while it waits). A semaphore's `try_acquire` is the whole mechanism, so it is written here
//!   rather than assembled from tower's `ConcurrencyLimit` and `LoadShed` layers and an error
//!   handler.
//! - Each client IP (the TCP peer) gets `RATE_LIMIT_IP` requests per second, counted before
//!   authentication, so a flood of bad tokens is throttled too; the per-principal limit is
//!   checked once the principal is known (see `a2a::endpoint`).
//! - A request that outlives the timeout gets a JSON-RPC error (HTTP 504), not a bare status.
//! - Request headers over `MAX_HEADER_BYTES` (names and values together) get 431 and a
//!   JSON-RPC error before anything reads them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::AppState;

/// The most bytes of request headers (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The cap on A2A requests in flight.
pub struct InFlight(pub Arc<Semaphore>);

/// Sheds load past the in-flight cap, then applies the client IP's rate limit; refusals are
/// JSON-RPC errors.
pub async fn a2a_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match admit(&state, &request) {
        Ok(_slot) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// The same gate for the UCP REST binding (the same in-flight cap); refusals are UCP errors.
pub async fn rest_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match admit(&state, &request) {
        Ok(_slot) => next.run(request).await,
        Err(error) => crate::error::Ucp(error).into_response(),
    }
}

/// A slot under the in-flight cap, held until the request is answered, if there is one and the
/// client IP is within its rate.
fn admit(state: &AppState, request: &Request) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
    let slot = state
        .in_flight
        .0
        .clone()
        .try_acquire_owned()
        .map_err(|_| Error::Overloaded("too many requests in flight"))?;
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        if let Err(retry_after_secs) = state.rate_limiter.check_ip(peer.ip()) {
            return Err(Error::RateLimited {
                scope: crate::rate_limit::Scope::Ip.as_str(),
                limit: state.config.rate_limit_ip,
                retry_after_secs,
            });
        }
    }
    Ok(slot)
}

/// Cuts a request at the timeout with a JSON-RPC error.
pub async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Error::Timeout(limit.as_secs()).into_response(),
    }
}

/// Refuses requests whose headers are larger than `MAX_HEADER_BYTES`.
pub async fn header_limit(request: Request, next: Next) -> Response {
    let size: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if size > MAX_HEADER_BYTES {
        return Error::HeadersTooLarge(MAX_HEADER_BYTES).into_response();
    }
    next.run(request).await
}
