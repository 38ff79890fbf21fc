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
use serde_json::json;

use crate::AppState;

/// How long each readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

pub async fn ready(State(state): State<AppState>) -> Response {
    let mut reasons: Vec<String> = store::db::unready(&state.db, CHECK_TIMEOUT).await.into_iter().collect();
    reasons.extend(queue::unready(&state.nats, &state.js, state.config.topology.streams, CHECK_TIMEOUT).await);
    answer(reasons)
}

/// 200 `{"status": "ready"}` without reasons, else 503 with them.
pub fn answer(reasons: Vec<String>) -> Response {
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
