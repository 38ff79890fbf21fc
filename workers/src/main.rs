use clap::Parser;
use workers::Config;

// The system allocator, on purpose (the ingress uses mimalloc): under a steady chat load the
// worker's resident size kept stepping up with mimalloc (+5 to +12 % in five minutes) and stayed
// flat with glibc, a quarter lower, with no loss of throughput (BENCHMARKS.md, issue 7).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.validate().map_err(anyhow::Error::msg)?;
    let telemetry = lifecycle::telemetry::init(&config.log_level, &config.telemetry, &config.http_trust, "cartwright-worker")
        .map_err(anyhow::Error::msg)?;
    let result = workers::run(config, lifecycle::shutdown_signal()).await;
    // The last spans (the turns that finished while draining) are exported before exit.
    telemetry.shutdown().await;
    result
}
