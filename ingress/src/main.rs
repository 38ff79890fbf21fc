use anyhow::Context as _;
use clap::Parser;
use ingress::config::Command;
use ingress::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(EnvFilter::try_new(&config.log_level)?)
        .init();
    match config.command.clone().unwrap_or(Command::Serve) {
        Command::Serve => {
            config.validate().map_err(anyhow::Error::msg)?;
            ingress::serve(config, shutdown_signal()).await
        }
        Command::Migrate { catalog } => {
            store::ensure_database(&config.database_url).await.context("creating the database")?;
            let pool = store::connect(&config.database_url, 2).await.context("connecting to PostgreSQL")?;
            store::migrate(&pool).await.context("applying migrations")?;
            let seed = std::fs::read_to_string(&catalog).with_context(|| format!("reading {catalog}"))?;
            let products = store::catalog::load_seed(&pool, &seed, &config.public_url).await.context("loading the catalog")?;
            tracing::info!(products, "database migrated and catalog loaded");
            Ok(())
        }
        Command::Token { subject, ttl } => {
            let keys = ingress::auth::Keys::new(config.secret().map_err(anyhow::Error::msg)?);
            println!("{}", keys.mint(&subject, ttl)?);
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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
