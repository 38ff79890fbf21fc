//! Process start-up and shutdown shared by the ingress and worker binaries.
//!
//! - [`secret`]: secrets from a variable or a `*_FILE`, never printed.
//! - [`tls`]: what outbound HTTPS trusts (the platform's roots and `HTTP_CA_FILE`).
//! - [`metrics`]: the process's Prometheus recorder, rendered at `/metrics`.

pub mod metrics;
pub mod secret;
pub mod tls;

use tracing_subscriber::EnvFilter;

/// Structured JSON logs on stderr, one event per line, with the current span's fields (task
/// and context ids of a turn, method and path of a request).
pub fn init_logging(filter: &str) -> Result<(), tracing_subscriber::filter::ParseError> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(EnvFilter::try_new(filter)?)
        // Standard error: standard output is for what a command prints (a token, a key, a
        // listing), which scripts read.
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

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
