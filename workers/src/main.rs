use clap::Parser;
use workers::Config;

// The system allocator, on purpose (the ingress uses mimalloc): under a steady chat load the
// worker's resident size kept stepping up with mimalloc (+5 to +12 % in five minutes) and stayed
// flat with glibc, a quarter lower, with no loss of throughput (BENCHMARKS.md, issue 7).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.validate().map_err(anyhow::Error::msg)?;
    lifecycle::init_logging(&config.log_level)?;
    workers::run(config, lifecycle::shutdown_signal()).await
}
