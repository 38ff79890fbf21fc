use anyhow::Context as _;
use clap::Parser;
use ingress::config::{ApiKeyCommand, Command};
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
            let jwt = ingress::jwt_verifier(&config).await?;
            println!("{}", jwt.mint(&subject, ttl).map_err(anyhow::Error::msg)?);
            Ok(())
        }
        Command::ApiKey(command) => api_key(&config, command).await,
    }
}

/// `cartwright-ingress api-key ...`: the operator's key management, straight on the database.
async fn api_key(config: &Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let database_url = config.database.url().map_err(anyhow::Error::msg)?;
    let pool = store::connect(database_url.expose(), 2)
        .await
        .context("connecting to PostgreSQL")?;
    match command {
        ApiKeyCommand::Create { principal, name } => {
            ingress::auth::Principal::new(principal.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let new = ingress::auth::api_keys::generate();
            store::api_keys::insert(&pool, &new.id, &principal, &name, &new.secret_hash).await?;
            eprintln!("API key {} for principal {principal:?} created; it is shown once:", new.id);
            println!("{}", new.key);
        }
        ApiKeyCommand::List => {
            println!("{:<16}  {:<24}  {:<20}  {:<25}  revoked", "id", "principal", "name", "created");
            for key in store::api_keys::list(&pool).await? {
                let revoked = key.revoked_at.map(|at| at.to_rfc3339()).unwrap_or_else(|| "-".into());
                println!("{:<16}  {:<24}  {:<20}  {:<25}  {revoked}", key.id, key.principal, key.name, key.created_at.to_rfc3339());
            }
        }
        ApiKeyCommand::Revoke { id } => {
            if !store::api_keys::revoke(&pool, &id).await? {
                anyhow::bail!("no API key {id:?}");
            }
            eprintln!("API key {id} revoked; every ingress refuses it within {} s", config.api_key_cache_ttl);
        }
    }
    Ok(())
}
