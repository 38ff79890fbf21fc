//! Liveness and readiness.
//!
//! `GET /health` touches no dependency: the process answers. `GET /ready` answers 200 only when
//! PostgreSQL answers with every migration applied and NATS is connected with the task stream
//! present; otherwise 503 with the reasons.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemas::queue::task_stream;
use serde_json::json;

use crate::AppState;

/// How long each readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

pub async fn ready(State(state): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    match tokio::time::timeout(CHECK_TIMEOUT, store::migrations_current(&state.db)).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => reasons.push("database migrations are not current".to_owned()),
        Ok(Err(_)) | Err(_) => reasons.push("database is not answering".to_owned()),
    }
    if state.nats.connection_state() != async_nats::connection::State::Connected {
        reasons.push("NATS is not connected".to_owned());
    } else {
        let streams = state.config.topology.streams;
        for group in 0..streams {
            let name = task_stream(group, streams);
            match tokio::time::timeout(CHECK_TIMEOUT, state.js.get_stream(&name)).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => reasons.push(format!("JetStream stream {name} is not available")),
                Err(_) => {
                    reasons.push("JetStream is not answering".to_owned());
                    break;
                }
            }
        }
    }
    if reasons.is_empty() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reasons": reasons })),
        )
            .into_response()
    }
}
