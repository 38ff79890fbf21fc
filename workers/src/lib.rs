//! Cartwright's workers: pull tasks from the JetStream partitions, run each turn, and commit
//! its effects in PostgreSQL exactly once and in conversation order.
//!
//! # Layout
//! - [`config`]: the typed configuration read from the environment.
//! - [`consume`]: partition pull loops, per-conversation FIFOs, acknowledgements.
//! - [`turn`]: a batch of turns in one transaction: fences, dedup, effects, results.
//! - [`commerce`]: the checkout state machine, pricing, the A2A actions and the REST operations.
//! - [`agent`]: chat turns with a model: start, model-and-tools loop, journal, outcome.
//! - [`llm`]: the model providers' wire formats, retries, circuit breakers, fallback.
//! - [`payments`]: payment handlers (what a processor implements) and the offered ones.
//! - [`webhooks`]: the dispatcher delivering order events from the outbox to platforms.
//! - [`maintenance`]: background services (the reconciler, the session sweeper).
//! - [`metrics`]: the workers' Prometheus metrics, named in one place.
//! - [`http`]: `/health`, `/ready` and `/metrics` on `WORKER_HTTP_ADDR`.
//! - [`fault`]: test-only fault points for the crash tests (feature `fault-injection`).

pub mod agent;
pub mod commerce;
pub mod config;
pub mod consume;
pub mod fault;
pub mod http;
pub mod llm;
pub mod maintenance;
pub mod metrics;
pub mod payments;
pub mod turn;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use schemas::merchant::Merchant;
use schemas::queue::{partition_consumer, task_stream};
use tokio::sync::watch;

pub use config::Config;

use crate::agent::{Agent, Limits};
use crate::commerce::actions::Settings;
use crate::consume::conversations::{Conversations, Handler};
use crate::consume::dead_letter::DeadLetters;
use crate::consume::partition::Puller;
use crate::consume::turns::{TurnBatcher, Turns};
use crate::fault::Faults;
use crate::payments::Payments;

/// How long shutdown waits for turns in progress to finish before giving up on them (their
/// messages are redelivered to another worker). Waiting and parked turns are given back at
/// once, so only a turn that is running (a model call, a transaction) can take this long.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs the worker until `shutdown` resolves: ensures the topology, pulls every partition,
/// runs the reconciler. On shutdown it stops pulling, lets turns in progress commit and ack,
/// and returns.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let faults = Faults::from_env().map_err(anyhow::Error::msg)?;
    let database_url = config.database.url().map_err(anyhow::Error::msg)?;
    let pool = store::connect(database_url.expose(), config.database.db_pool_size)
        .await
        .context("connecting to PostgreSQL")?;
    let http = tokio::net::TcpListener::bind(config.worker_http_addr)
        .await
        .with_context(|| format!("binding WORKER_HTTP_ADDR {}", config.worker_http_addr))?;
    let http_addr = http.local_addr()?;
    lifecycle::metrics::handle();
    let (nats, js) = queue::connect(&config.topology)
        .await
        .context("connecting to NATS")?;
    let topology = config.topology.topology();
    queue::topology::ensure(&js, &topology)
        .await
        .context("checking the JetStream topology")?;

    let handlers = &config.payment.payment_handlers;
    let keyring = config.payment.keyring().map_err(anyhow::Error::msg)?;
    let settings = Settings {
        merchant: Merchant::seed().offering(handlers).map_err(anyhow::Error::msg)?,
        payments: Arc::new(Payments::new(keyring, handlers).map_err(anyhow::Error::msg)?),
        catalog: Arc::new(store::catalog::Cache::new(pool.clone())),
        pricing: Arc::new(store::pricing::Cache::new(pool.clone())),
        webhooks_due: Arc::new(tokio::sync::Notify::new()),
        pool: pool.clone(),
        session_ttl: chrono::Duration::seconds(config.session_ttl as i64),
        history_turns: config.llm.llm_history_turns,
    };
    let webhooks_due = settings.webhooks_due.clone();
    let agent = agent(&config, &pool, &settings, &faults)?;
    let simulated_turn = (config.simulated_turn_ms > 0).then(|| Duration::from_millis(config.simulated_turn_ms));
    let turns = Turns {
        pool: pool.clone(),
        settings,
        faults,
    };
    let (stop, stopped) = watch::channel(false);
    let dead_letters = DeadLetters {
        pool: pool.clone(),
        js: js.clone(),
    };
    let conversations = Conversations::new(Handler {
        turns: TurnBatcher::start(turns, config.turn_batch, config.turn_transactions),
        dead_letters: dead_letters.clone(),
        max_deliver: topology.max_deliver,
        stuck_after: config.stuck_task_after(),
        fetch_predecessor_after: config.fetch_predecessor_after(),
        partitions: topology.partitions,
        stopping: stopped.clone(),
        agent,
        simulated_turn,
    });
    let puller = Arc::new(Puller {
        js: js.clone(),
        topology: topology.clone(),
        conversations: Arc::clone(&conversations),
        dead_letters: dead_letters.clone(),
        batch: config.pull_batch,
        held: Arc::new(tokio::sync::Semaphore::new(config.max_held_messages)),
    });
    let mut pullers = Vec::new();
    for partition in 0..topology.partitions {
        let stream = js
            .get_stream(task_stream(partition, topology.streams))
            .await
            .with_context(|| format!("reading the task stream of partition {partition}"))?;
        let consumer = stream
            .get_consumer(&partition_consumer(partition))
            .await
            .map_err(|e| anyhow::anyhow!("reading consumer of partition {partition}: {e}"))?;
        pullers.push(tokio::spawn(consume::partition::run(
            partition,
            consumer,
            puller.clone(),
            stopped.clone(),
        )));
    }
    let reconciler = tokio::spawn(maintenance::reconciler::run(
        pool.clone(),
        js.clone(),
        topology.clone(),
        config.reconcile_after(),
        stopped.clone(),
    ));
    let dead_letterer = tokio::spawn(maintenance::dead_letterer::run(js.clone(), topology.clone(), dead_letters, stopped.clone()));
    let sweeper = tokio::spawn(maintenance::session_sweeper::run(
        pool.clone(),
        Duration::from_secs(config.session_ttl),
        stopped.clone(),
    ));
    let stuck = tokio::spawn(maintenance::stuck_sweeper::run(pool.clone(), config.stuck_task_after(), stopped.clone()));
    let purge = tokio::spawn(maintenance::retention::run(pool.clone(), config.retention(), stopped.clone()));
    let depth = tokio::spawn(queue::depth::run(js.clone(), topology.clone(), stopped.clone()));
    let allowlist = lifecycle::outbound::Allowlist::parse(&config.ucp_profile_allowlist).map_err(anyhow::Error::msg)?;
    let trusted = config.http_trust.certificates().map_err(anyhow::Error::msg)?;
    let webhook_client = webhooks::client(allowlist, &trusted).context("building the webhook client")?;
    let dispatcher = tokio::spawn(webhooks::run(pool.clone(), webhook_client, webhooks_due, stopped.clone()));
    let http = tokio::spawn(http::serve(http, pool.clone(), nats, js.clone(), topology.streams, stopped.clone()));
    tracing::info!(partitions = topology.partitions, %http_addr, "worker started");

    shutdown.await;
    tracing::info!("shutting down: no new pulls, finishing turns in progress");
    let _ = stop.send(true);
    for puller in pullers {
        let _ = puller.await;
    }
    let _ = reconciler.await;
    let _ = dead_letterer.await;
    let _ = depth.await;
    let _ = purge.await;
    let _ = http.await;
    let _ = dispatcher.await;
    let _ = sweeper.await;
    let _ = stuck.await;
    if tokio::time::timeout(SHUTDOWN_GRACE, conversations.drained())
        .await
        .is_err()
    {
        tracing::warn!("turns still running after the grace period; their messages will be redelivered");
    }
    pool.close().await;
    tracing::info!("worker stopped");
    Ok(())
}

/// The agent for chat turns, or `None` when offline (no provider configured), which is said
/// here at start-up and in every chat reply.
fn agent(config: &Config, pool: &store::PgPool, settings: &Settings, faults: &Faults) -> anyhow::Result<Option<Agent>> {
    let llm = &config.llm;
    let endpoints = llm.endpoints().map_err(anyhow::Error::msg)?;
    if endpoints.is_empty() {
        tracing::warn!("the assistant is offline: no LLM provider configured (set GOOGLE_API_KEY or OPENAI_API_KEY, or LLM_PROVIDER); chat turns get deterministic catalog answers");
        return Ok(None);
    }
    for (role, endpoint) in ["primary", "fallback"].iter().zip(&endpoints) {
        tracing::info!(role, provider = endpoint.dialect.name(), model = %endpoint.model, base_url = %endpoint.base_url, "LLM provider");
    }
    let policy = llm::router::Policy {
        timeout: llm.timeout(),
        attempts: llm.llm_attempts,
        min_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(5),
        max_retry_after: Duration::from_secs(10),
        breaker_failures: llm.llm_breaker_failures,
        breaker_cooldown: llm.breaker_cooldown(),
    };
    let trusted = config.http_trust.certificates().map_err(anyhow::Error::msg)?;
    let router = llm::router::Router::new(endpoints, llm.llm_concurrency, policy, &trusted).context("building the HTTP client")?;
    let limits = Limits {
        max_steps: llm.llm_max_steps,
        history_turns: llm.llm_history_turns,
        daily_tokens_per_principal: llm.llm_daily_tokens_per_principal,
    };
    Ok(Some(Agent::new(pool.clone(), settings.clone(), router, limits, faults.clone())))
}
