use clap::Parser;
use workers::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.validate().map_err(anyhow::Error::msg)?;
    lifecycle::init_logging(&config.log_level)?;
    workers::run(config, lifecycle::shutdown_signal()).await
}
