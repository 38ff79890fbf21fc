use clap::Parser;
use workers::Config;

/// mimalloc instead of glibc malloc: malloc and free were about a tenth of the machine's CPU
/// samples in the end-to-end benchmark (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.validate().map_err(anyhow::Error::msg)?;
    lifecycle::init_logging(&config.log_level)?;
    workers::run(config, lifecycle::shutdown_signal()).await
}
