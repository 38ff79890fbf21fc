//! The worker's own HTTP server on `WORKER_HTTP_ADDR`, for the platform, not for clients:
//! `GET /health` (the process answers), `GET /ready` (PostgreSQL answers with migrations current,
//! NATS is connected and the task streams exist; else 503 with the reasons) and `GET /metrics`
//! (Prometheus text).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;

/// How long each readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Probes {
    pool: PgPool,
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    streams: u32,
}

/// Serves on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    pool: PgPool,
    nats: async_nats::Client,
    js: async_nats::jetstream::Context,
    streams: u32,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Probes { pool, nats, js, streams });
    let stopped = async move {
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        tracing::error!(%error, "the worker's HTTP server failed");
    }
}

async fn ready(State(probes): State<Probes>) -> Response {
    let mut reasons: Vec<String> = store::db::unready(&probes.pool, CHECK_TIMEOUT).await.into_iter().collect();
    reasons.extend(queue::unready(&probes.nats, &probes.js, probes.streams, CHECK_TIMEOUT).await);
    if reasons.is_empty() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not_ready", "reasons": reasons }))).into_response()
    }
}

async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], lifecycle::metrics::render()).into_response()
}
