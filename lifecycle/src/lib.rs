//! Process start-up and shutdown shared by the ingress and worker binaries.
//!
//! - [`telemetry`]: JSON logs with the ids of the request or turn on every line, and
//!   OpenTelemetry traces (OTLP, off by default) with W3C trace-context propagation.
//! - [`secret`]: secrets from a variable or a `*_FILE`, never printed.
//! - [`tls`]: what outbound HTTPS trusts (the platform's roots and `HTTP_CA_FILE`).
//! - [`metrics`]: the process's Prometheus recorder, rendered at `/metrics`.
//! - [`outbound`]: which platform-given URLs (profiles, webhooks) outbound HTTP may reach.

pub mod metrics;
pub mod outbound;
pub mod secret;
pub mod telemetry;
pub mod tls;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
