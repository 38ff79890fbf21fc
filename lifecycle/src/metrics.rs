//! Prometheus metrics: the process's one recorder (the `metrics` crate's facade, rendered by
//! `metrics-exporter-prometheus`), served as text at `/metrics` by each binary. Histograms
//! (`*_seconds`) use [`BUCKETS`], so they aggregate across replicas (quantiles are computed in
//! Prometheus with `histogram_quantile`, not per process).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: 1 ms to 2 min, covering a cached read, a publish awaiting its
/// PubAck and a turn with several model calls.
pub const BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// How often histograms are compacted (the exporter needs it when it runs no listener).
const UPKEEP: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use (with its upkeep task, so call it inside the
/// runtime).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP);
            loop {
                ticks.tick().await;
                upkeep.run_upkeep();
            }
        });
        handle
    })
}

/// The metrics as Prometheus text.
pub fn render() -> String {
    handle().render()
}
