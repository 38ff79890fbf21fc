use anyhow::Context as _;
use clap::Parser;
use ingress::config::{ApiKeyCommand, Command, DlqCommand};
use ingress::dlq::{self, Action};
use ingress::Config;

/// mimalloc instead of glibc malloc: malloc and free were about a tenth of the machine's CPU
/// samples in the end-to-end benchmark (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let telemetry = lifecycle::telemetry::init(&config.log_level, &config.telemetry, &config.http_trust, "cartwright-ingress")
        .map_err(anyhow::Error::msg)?;
    let result = run(config).await;
    // The last spans (the requests that drained, the command's own) are exported before exit.
    telemetry.shutdown().await;
    result
}

async fn run(config: Config) -> anyhow::Result<()> {
    match config.command.clone().unwrap_or(Command::Serve) {
        Command::Serve => {
            config.validate().map_err(anyhow::Error::msg)?;
            ingress::serve(config, lifecycle::shutdown_signal()).await
        }
        Command::Migrate { merchant_data } => {
            let database_url = config.database.url().map_err(anyhow::Error::msg)?;
            store::ensure_database(database_url.expose())
                .await
                .context("creating the database")?;
            let pool = store::connect(database_url.expose(), 2)
                .await
                .context("connecting to PostgreSQL")?;
            store::migrate(&pool).await.context("applying migrations")?;
            let loaded = store::merchant_data::load(&pool, &merchant_data, &config.public_url)
                .await
                .with_context(|| format!("loading the merchant data set {}", merchant_data.display()))?;
            let (_nats, js) = queue::connect(&config.topology).await.context("connecting to NATS")?;
            queue::topology::apply(&js, &config.topology.topology())
                .await
                .context("applying the JetStream topology")?;
            let data_set = merchant_data.display().to_string();
            if loaded.skipped {
                tracing::info!(data_set, "database migrated, merchant data set already loaded (unchanged), JetStream topology applied");
            } else {
                tracing::info!(
                    data_set,
                    products = loaded.products,
                    inventory = loaded.inventory,
                    customers = loaded.customers,
                    addresses = loaded.addresses,
                    discounts = loaded.discounts,
                    promotions = loaded.promotions,
                    shipping_rates = loaded.shipping_rates,
                    tax_rates = loaded.tax_rates,
                    "database migrated, merchant data set loaded, JetStream topology applied"
                );
            }
            Ok(())
        }
        Command::Token { subject, ttl, admin } => {
            let jwt = ingress::jwt_verifier(&config).await?;
            println!("{}", jwt.mint(&subject, ttl, admin).map_err(anyhow::Error::msg)?);
            Ok(())
        }
        Command::ApiKey(command) => api_key(&config, command).await,
        Command::Dlq(command) => dead_letters(&config, command).await,
    }
}

/// `cartwright-ingress dlq ...`: the operator's dead-letter work, over NATS and PostgreSQL.
async fn dead_letters(config: &Config, command: DlqCommand) -> anyhow::Result<()> {
    let database_url = config.database.url().map_err(anyhow::Error::msg)?;
    let pool = store::connect(database_url.expose(), 2)
        .await
        .context("connecting to PostgreSQL")?;
    let (_nats, js) = queue::connect(&config.topology).await.context("connecting to NATS")?;
    let partitions = config.topology.partitions;
    let (ids, action) = match command {
        DlqCommand::List { filters, json } => {
            let listed = dlq::list(&js, &filters.parse()?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
                return Ok(());
            }
            println!("{:>6}  {:<20}  {:<14}  {:>8}  {:>4}  {:<36}  {:<24}  error", "id", "dead-lettered", "reason", "attempts", "part", "task", "context");
            for stored in &listed {
                let record = &stored.record;
                let task = record.task_id.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
                let error: String = record.error.chars().take(80).collect();
                println!(
                    "{:>6}  {:<20}  {:<14}  {:>8}  {:>4}  {:<36}  {:<24}  {error}",
                    stored.id,
                    stored.dead_lettered_at.format("%Y-%m-%d %H:%M:%S"),
                    record.reason,
                    record.attempts,
                    record.partition,
                    task,
                    record.context_id.as_deref().unwrap_or("-"),
                );
            }
            eprintln!("{} dead letter(s)", listed.len());
            return Ok(());
        }
        DlqCommand::Show { id } => {
            let stored = dlq::show(&js, id).await?.ok_or_else(|| anyhow::anyhow!("no dead letter {id}"))?;
            println!("{}", serde_json::to_string_pretty(&stored)?);
            return Ok(());
        }
        DlqCommand::Replay { ids, all: true, filters } if ids.is_empty() => {
            let listed = dlq::list(&js, &filters.parse()?).await?;
            (listed.iter().map(|stored| stored.id).collect::<Vec<_>>(), Action::Replay)
        }
        DlqCommand::Replay { ids, .. } => (ids, Action::Replay),
        DlqCommand::Discard { ids } => (ids, Action::Discard),
    };
    let mut missing = 0;
    for id in ids {
        let outcome = dlq::release(&pool, &js, partitions, id, action).await?;
        match outcome.result {
            "not_found" => {
                missing += 1;
                eprintln!("dead letter {id}: not found (replayed or discarded already?)");
            }
            result => println!(
                "dead letter {id}: {result}; task {}; {} message(s) republished{}",
                outcome.task_id.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                outcome.republished,
                if outcome.applied_before { " (its turn had been applied before)" } else { "" },
            ),
        }
    }
    if missing > 0 {
        anyhow::bail!("{missing} dead letter(s) not found");
    }
    Ok(())
}

/// `cartwright-ingress api-key ...`: the operator's key management, straight on the database.
async fn api_key(config: &Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let database_url = config.database.url().map_err(anyhow::Error::msg)?;
    let pool = store::connect(database_url.expose(), 2)
        .await
        .context("connecting to PostgreSQL")?;
    match command {
        ApiKeyCommand::Create { principal, name, admin } => {
            ingress::auth::Principal::new(principal.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let new = ingress::auth::api_keys::generate();
            store::api_keys::insert(&pool, &new.id, &principal, &name, &new.secret_hash, admin).await?;
            let role = if admin { " (admin)" } else { "" };
            eprintln!("API key {} for principal {principal:?}{role} created; it is shown once:", new.id);
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
