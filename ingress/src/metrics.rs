//! The ingress's metrics, named in one place, served at `GET /metrics` (Prometheus text; the
//! queue depth gauges come from `queue::depth`).
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `cartwright_requests_total`, `cartwright_request_duration_seconds` | `method`, `outcome` | A2A requests by JSON-RPC method (`message/send`, `tasks/get`, `tasks/cancel`, `unknown`, or `-` when the envelope did not parse) and outcome (`ok` or the error's kind) |
//! | `cartwright_record_duration_seconds` | | recording a task in PostgreSQL (a batched accept), from the request's submission to its row |
//! | `cartwright_publish_duration_seconds` | `outcome` | publishing a task until its PubAck (`ok`, `error`) |
//! | `cartwright_rate_limited_total` | `scope` | requests refused by a rate limit (`principal`, `ip`) |
//! | `cartwright_shed_total` | `reason` | requests refused because the ingress was at capacity |
//! | `cartwright_tasks` | `state` | tasks in the database by state, read every [`TASK_STATES_INTERVAL`] |

use std::time::Duration;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::error::Error;

/// How often the tasks are counted by state (a scan of `tasks`, bounded by retention).
pub const TASK_STATES_INTERVAL: Duration = Duration::from_secs(30);

/// `GET /metrics`.
pub async fn handler() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], lifecycle::metrics::render()).into_response()
}

/// One A2A request.
pub fn request(method: &'static str, outcome: &'static str, took: Duration) {
    metrics::counter!("cartwright_requests_total", "method" => method, "outcome" => outcome).increment(1);
    metrics::histogram!("cartwright_request_duration_seconds", "method" => method, "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// One task recorded (or found already recorded), including its wait for a batch.
pub fn record(took: Duration) {
    metrics::histogram!("cartwright_record_duration_seconds").record(took.as_secs_f64());
}

/// One publish of a task, until its PubAck or failure.
pub fn publish(ok: bool, took: Duration) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::histogram!("cartwright_publish_duration_seconds", "outcome" => outcome).record(took.as_secs_f64());
}

/// Counts a request refused for a rate limit or for capacity.
pub fn refused(error: &Error) {
    match error {
        Error::RateLimited { scope, .. } => metrics::counter!("cartwright_rate_limited_total", "scope" => *scope).increment(1),
        Error::Overloaded(reason) => metrics::counter!("cartwright_shed_total", "reason" => *reason).increment(1),
        _ => {}
    }
}

/// Sets `cartwright_tasks{state}` every [`TASK_STATES_INTERVAL`] until `stop` turns true.
pub async fn count_tasks(pool: PgPool, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(TASK_STATES_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        match store::tasks::count_by_state(&pool).await {
            Ok(counts) => {
                for state in schemas::TaskState::ALL {
                    let count = counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, count)| *count);
                    metrics::gauge!("cartwright_tasks", "state" => state.as_str()).set(count as f64);
                }
            }
            Err(error) => tracing::warn!(%error, "could not count tasks by state"),
        }
    }
}
