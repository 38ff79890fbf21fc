//! Cartwright's HTTP ingress: authenticates each A2A request, validates it, records the task
//! in PostgreSQL and publishes it to its JetStream partition; answers `tasks/get` from the store.
//!
//! # Layout
//! - [`config`]: the typed configuration read from the environment.
//! - [`error`]: the one error type, mapped to JSON-RPC errors and HTTP statuses in one place.
//! - [`admission`]: load shedding, the client IP's rate limit, the request timeout.
//! - [`rate_limit`]: rate limits per principal and per IP, shared across replicas.
//! - [`auth`]: the `Principal` extractor: bearer JWTs (HS256 or a JWKS) and API keys.
//! - [`a2a`]: the JSON-RPC endpoint, one file per method.
//! - [`rest`]: the UCP REST binding: checkout sessions and orders.
//! - [`ucp`]: UCP-Agent header, client profiles, capability negotiation.
//! - [`well_known`]: agent card and UCP business profile, with ETags.
//! - [`health`]: liveness and readiness.
//! - [`metrics`]: the ingress's Prometheus metrics, named in one place; `GET /metrics`.
//! - [`dlq`]: operators' work on dead letters (list, show, replay, discard), for the CLI and
//!   the admin API.
//! - [`admin`]: the admin API (admin role required).
//! - [`task_store`]: task accepts and reads, batched across concurrent requests.
//! - [`pipeline`]: publishing a recorded task to its partition and waiting for its end, for
//!   both bindings.
//! - [`request_id`]: each request's id (`X-Request-Id`) and span.

pub mod a2a;
pub mod admin;
pub mod admission;
pub mod auth;
pub mod config;
pub mod dlq;
pub mod error;
pub mod health;
pub mod metrics;
pub mod pipeline;
pub mod rate_limit;
pub mod request_id;
pub mod rest;
pub mod task_store;
pub mod ucp;
pub mod well_known;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use schemas::merchant::Merchant;
use sqlx::PgPool;
use store::notify::TaskWatcher;
use task_store::TaskStore;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use config::Config;

/// Everything a request handler may use.
/// What every request handler shares, behind one `Arc`: axum clones the state for each request
/// and each layer that takes it, and a clone of the fields themselves (the NATS client among
/// them) cost a measurable part of the ingress's CPU at thousands of requests a second
/// (BENCHMARKS.md, issue 11).
pub type AppState = Arc<Services>;

pub struct Services {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    /// Verifies bearer JWTs.
    pub jwt: Arc<auth::jwt::JwtVerifier>,
    /// Verifies API keys.
    pub api_keys: Arc<auth::api_keys::ApiKeys>,
    /// Seals payment credentials before a message is stored or queued.
    pub keyring: Arc<vault::Keyring>,
    pub watcher: Arc<TaskWatcher>,
    pub profiles: Arc<ucp::profiles::Profiles>,
    pub catalog: Arc<store::catalog::Cache>,
    pub documents: Arc<well_known::Documents>,
    /// Records and reads tasks, many concurrent requests per statement.
    pub tasks: TaskStore,
    /// The cap on A2A requests in flight.
    pub in_flight: Arc<admission::InFlight>,
    /// Rate limits per principal and per client IP.
    pub rate_limiter: Arc<rate_limit::RateLimiter>,
}

/// The HTTP application.
///
/// Layers, outside in: request id (taken from `X-Request-Id` or made, and answered), trace (a
/// span per request, so every event of the request carries its request id, method and path, and
/// the task's ids once known; see [`request_id`]), header size limit, timeout (longer than the blocking cap, so it only cuts a stuck request),
/// body limit (an oversized body is refused before it is read whole); on the A2A endpoint,
/// the in-flight cap and the client IP's rate limit (see [`admission`]).
pub fn app(state: AppState) -> Router {
    let timeout = state.config.request_timeout();
    let max_body = state.config.max_body_bytes;
    Router::new()
        .route(
            "/",
            post(a2a::endpoint).route_layer(axum::middleware::from_fn_with_state(state.clone(), admission::a2a_gate)),
        )
        .route("/.well-known/agent-card.json", get(well_known::agent_card_handler))
        .route("/.well-known/ucp", get(well_known::business_profile_handler))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::handler))
        .merge(admin::routes())
        .merge(
            rest::routes().route_layer(axum::middleware::from_fn_with_state(state.clone(), admission::rest_gate)),
        )
        .nest_service("/images", ServeDir::new(&state.config.images_dir))
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(timeout, admission::timeout))
        .layer(axum::middleware::from_fn(admission::header_limit))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_id::span)
                .on_response(request_id::on_response),
        )
        .layer(axum::middleware::from_fn(request_id::assign))
}

/// The JWT verifier the configuration describes; with a JWKS, its first fetch is tried now
/// (a failure is logged and retried when tokens arrive).
pub async fn jwt_verifier(config: &Config) -> anyhow::Result<auth::jwt::JwtVerifier> {
    let (algorithm, source) = config.jwt_keys_source().map_err(anyhow::Error::msg)?;
    let rules = auth::jwt::Rules {
        algorithm,
        issuer: config.auth_jwt_issuer.clone(),
        audience: config.auth_jwt_audience.clone(),
        leeway_secs: config.auth_jwt_leeway,
    };
    let keys = match source {
        config::JwtKeySource::Secret(secret) => auth::jwt::Keys::secret(secret.expose().as_bytes()),
        config::JwtKeySource::Jwks(url) => {
            let min_refresh = Duration::from_secs(config.auth_jwks_min_refresh.max(1));
            let trusted = config.http_trust.certificates().map_err(anyhow::Error::msg)?;
            let jwks = auth::jwks::Jwks::new(url, algorithm, min_refresh, &trusted).context("building the JWKS client")?;
            jwks.refresh().await;
            auth::jwt::Keys::Jwks(Arc::new(jwks))
        }
    };
    Ok(auth::jwt::JwtVerifier::new(rules, keys))
}

/// How long requests in flight may take to finish after shutdown begins (a blocking send
/// waits up to `BLOCKING_TIMEOUT`; its task is safe either way and `tasks/get` finds it).
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Connects to PostgreSQL and NATS, checks the JetStream topology, and serves until `shutdown`
/// resolves; requests in flight then finish, for at most [`DRAIN_DEADLINE`].
pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let jwt = Arc::new(jwt_verifier(&config).await?);
    let keyring = config.payment.keyring().map_err(anyhow::Error::msg)?;
    let allowlist = config.profile_allowlist().map_err(anyhow::Error::msg)?;
    let trusted = config.http_trust.certificates().map_err(anyhow::Error::msg)?;
    let profiles = ucp::profiles::Profiles::new(allowlist, &trusted).context("building the profile client")?;
    let database_url = config.database.url().map_err(anyhow::Error::msg)?;
    let db = store::connect(database_url.expose(), config.database.db_pool_size)
        .await
        .context("connecting to PostgreSQL")?;
    let (nats, js) = queue::connect(&config.topology)
        .await
        .context("connecting to NATS")?;
    queue::topology::ensure(&js, &config.topology.topology())
        .await
        .context("checking the JetStream topology")?;
    let watcher = TaskWatcher::start(database_url.expose())
        .await
        .context("listening for task changes")?;
    let merchant = Merchant::seed().offering(&config.payment.payment_handlers).map_err(anyhow::Error::msg)?;
    let documents = well_known::Documents::render(&merchant, &config.public_url, &config.auth_jwt_algorithm);
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("binding {}:{}", config.host, config.port))?;
    let addr = listener.local_addr()?;
    let catalog = Arc::new(store::catalog::Cache::new(db.clone()));
    let tasks = TaskStore::start(&db, config.store_batch, config.store_statements, config.store_queue);
    let limits = rate_limit::Limits {
        principal: config.rate_limit_principal,
        ip: config.rate_limit_ip,
    };
    let rate_limiter = rate_limit::RateLimiter::start(limits, Some(db.clone()));
    let in_flight = Arc::new(admission::InFlight(Arc::new(tokio::sync::Semaphore::new(config.max_in_flight))));
    let api_keys = Arc::new(auth::api_keys::ApiKeys::new(
        db.clone(),
        Duration::from_secs(config.api_key_cache_ttl),
    ));
    let state = Arc::new(Services {
        config: Arc::new(config),
        db,
        nats,
        js,
        jwt,
        api_keys,
        keyring: Arc::new(keyring),
        watcher,
        profiles: Arc::new(profiles),
        catalog,
        documents: Arc::new(documents),
        tasks,
        in_flight,
        rate_limiter,
    });
    lifecycle::metrics::handle();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(queue::depth::run(state.js.clone(), state.config.topology.topology(), stopped.clone()));
    tokio::spawn(metrics::count_tasks(state.db.clone(), stopped));
    tracing::info!(%addr, "ingress listening");
    let (draining, mut drain_started) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, draining requests in flight");
            let _ = draining.send(true);
        });
    let deadline = async {
        let _ = drain_started.wait_for(|started| *started).await;
        tokio::time::sleep(DRAIN_DEADLINE).await;
    };
    tokio::select! {
        served = server => served?,
        _ = deadline => tracing::warn!(deadline_secs = DRAIN_DEADLINE.as_secs(), "requests still in flight at the drain deadline; closing them"),
    }
    let _ = stop.send(true);
    tracing::info!("ingress stopped");
    Ok(())
}
