use anyhow::Context as _;
use clap::Parser;
use ingress::config::Command;
use ingress::Config;

/// mimalloc instead of glibc malloc: malloc and free were about a tenth of the machine's CPU
/// samples in the end-to-end benchmark (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    lifecycle::init_logging(&config.log_level)?;
    match config.command.clone().unwrap_or(Command::Serve) {
        Command::Serve => {
            config.validate().map_err(anyhow::Error::msg)?;
            ingress::serve(config, lifecycle::shutdown_signal()).await
        }
        Command::Migrate { catalog } => {
            let database_url = config.database.url().map_err(anyhow::Error::msg)?;
            store::ensure_database(database_url.expose())
                .await
                .context("creating the database")?;
            let pool = store::connect(database_url.expose(), 2)
                .await
                .context("connecting to PostgreSQL")?;
            store::migrate(&pool).await.context("applying migrations")?;
            let seed = std::fs::read_to_string(&catalog).with_context(|| format!("reading {catalog}"))?;
            let products = store::catalog::load_seed(&pool, &seed, &config.public_url)
                .await
                .context("loading the catalog")?;
            tracing::info!(products, "database migrated and catalog loaded");
            Ok(())
        }
        Command::Token { subject, ttl } => {
            let keys = ingress::auth::Keys::new(config.secret().map_err(anyhow::Error::msg)?.expose().as_bytes());
            println!("{}", keys.mint(&subject, ttl)?);
            Ok(())
        }
    }
}
