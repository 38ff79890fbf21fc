//! Worker configuration, read from the environment (each variable also has a flag).

use std::time::Duration;

use clap::Parser;
use lifecycle::secret::{self, Secret};
use lifecycle::tls::HttpTrustArgs;
use queue::TopologyArgs;
use store::DatabaseArgs;
use vault::PaymentArgs;

use crate::llm::{Dialect, Endpoint};

/// Messages fetched per pull request.
pub const PULL_BATCH_DEFAULT: usize = 128;
/// Messages one worker holds at once: the bench's 1,000 waiting chat conversations fit twice.
pub const MAX_HELD_MESSAGES_DEFAULT: usize = 8192;
/// Most turns one transaction applies.
pub const TURN_BATCH_DEFAULT: usize = 64;
/// Turn transactions a worker runs at once (each holds one connection of the pool).
pub const TURN_TRANSACTIONS_DEFAULT: usize = 2;
/// Checkout lifetime after its last change: 6 hours, the UCP default.
pub const SESSION_TTL_DEFAULT: u64 = 6 * 60 * 60;
/// Age after which an unapplied task is republished.
pub const RECONCILE_AFTER_DEFAULT: u64 = 30;
/// Twice `RECONCILE_AFTER`: the reconciler's republish normally arrives first.
pub const FETCH_PREDECESSOR_AFTER_DEFAULT: u64 = 60;
/// Default `STUCK_TASK_AFTER`: beyond the longest turn the default model settings allow
/// (`LLM_TIMEOUT` 60 s x `LLM_ATTEMPTS` 3 x `LLM_MAX_STEPS` 6, plus backoff).
pub const STUCK_TASK_AFTER_DEFAULT: u64 = 1800;
/// Seconds processed-message records are kept: 48 hours.
pub const PROCESSED_RETENTION_DEFAULT: u64 = 48 * 60 * 60;
/// Seconds finished tasks (with their journals) and idle conversations are kept: 30 days.
pub const TASK_RETENTION_DEFAULT: u64 = 30 * 24 * 60 * 60;
/// The least either retention may be: 24 hours.
pub const MIN_RETENTION: u64 = 24 * 60 * 60;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "cartwright-worker",
    about = "Consumes task partitions and applies each turn exactly once"
)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub payment: PaymentArgs,
    #[command(flatten)]
    pub http_trust: HttpTrustArgs,
    #[command(flatten)]
    pub telemetry: lifecycle::telemetry::TelemetryArgs,
    #[command(flatten)]
    pub topology: TopologyArgs,
    /// Messages fetched per pull request.
    #[arg(long, env = "PULL_BATCH", default_value_t = PULL_BATCH_DEFAULT)]
    pub pull_batch: usize,
    /// Messages this worker holds at once (pulled, not yet acknowledged); at the cap it stops
    /// pulling until turns finish.
    #[arg(long, env = "MAX_HELD_MESSAGES", default_value_t = MAX_HELD_MESSAGES_DEFAULT)]
    pub max_held_messages: usize,
    /// Most turns (of different conversations) applied in one transaction.
    #[arg(long, env = "TURN_BATCH", default_value_t = TURN_BATCH_DEFAULT)]
    pub turn_batch: usize,
    /// Turn transactions run at once; ready turns wait for one to finish and go in the next.
    #[arg(long, env = "TURN_TRANSACTIONS", default_value_t = TURN_TRANSACTIONS_DEFAULT)]
    pub turn_transactions: usize,
    /// Seconds a checkout lives after its last change.
    #[arg(long, env = "SESSION_TTL", default_value_t = SESSION_TTL_DEFAULT)]
    pub session_ttl: u64,
    /// Seconds after which a task recorded but not applied is republished.
    #[arg(long, env = "RECONCILE_AFTER", default_value_t = RECONCILE_AFTER_DEFAULT)]
    pub reconcile_after: u64,
    /// Seconds a worker's parked messages wait for the task before them (recorded, its message
    /// lost) before the worker runs that task from the database.
    #[arg(long, env = "FETCH_PREDECESSOR_AFTER", default_value_t = FETCH_PREDECESSOR_AFTER_DEFAULT)]
    pub fetch_predecessor_after: u64,
    /// Seconds a task may stay `working` without any change before it is failed as stuck.
    #[arg(long, env = "STUCK_TASK_AFTER", default_value_t = STUCK_TASK_AFTER_DEFAULT)]
    pub stuck_task_after: u64,
    /// Seconds a processed-message record is kept (at least 86400).
    #[arg(long, env = "PROCESSED_RETENTION", default_value_t = PROCESSED_RETENTION_DEFAULT)]
    pub processed_retention: u64,
    /// Seconds a finished task, with its journal, is kept after it finished, and an idle
    /// conversation with nothing left (at least 86400).
    #[arg(long, env = "TASK_RETENTION", default_value_t = TASK_RETENTION_DEFAULT)]
    pub task_retention: u64,
    /// Address of the worker's HTTP server (`/health`, `/ready`, `/metrics`); port 0 picks a
    /// free one (logged at start).
    #[arg(long, env = "WORKER_HTTP_ADDR", default_value = "127.0.0.1:9100")]
    pub worker_http_addr: std::net::SocketAddr,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `workers=debug,info`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Benchmark-only stand-in for LLM latency until the agent arrives: milliseconds each turn
    /// waits (holding no database connection) before it runs. 0 in production.
    #[arg(long, env = "SIMULATED_TURN_MS", default_value_t = 0)]
    pub simulated_turn_ms: u64,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Hosts order webhooks may be sent to (the profile allow-list the ingress uses; see the
    /// ingress's `UCP_PROFILE_ALLOWLIST`): `host`, `host:port` or `*.domain`, comma separated.
    /// Unset: any host with a public address over https.
    #[arg(long, env = "UCP_PROFILE_ALLOWLIST", default_value = "")]
    pub ucp_profile_allowlist: String,
}

/// The agent's model providers and limits.
#[derive(Debug, Clone, clap::Args)]
pub struct LlmArgs {
    /// `gemini`, `openai` or `offline`. Unset: gemini if a Google key is configured, else
    /// openai if an OpenAI key is, else offline (deterministic answers, no model).
    #[arg(long, env = "LLM_PROVIDER", value_parser = ["gemini", "openai", "offline"])]
    pub llm_provider: Option<String>,
    /// The primary's model (default gemini-2.5-flash or gpt-4o-mini).
    #[arg(long, env = "LLM_MODEL")]
    pub llm_model: Option<String>,
    /// The primary's API base URL (default the provider's public endpoint).
    #[arg(long, env = "LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// The provider that takes over while the primary's circuit is open.
    #[arg(long, env = "LLM_FALLBACK", value_parser = ["gemini", "openai"])]
    pub llm_fallback: Option<String>,
    #[arg(long, env = "LLM_FALLBACK_MODEL")]
    pub llm_fallback_model: Option<String>,
    #[arg(long, env = "LLM_FALLBACK_BASE_URL")]
    pub llm_fallback_base_url: Option<String>,
    #[arg(long, env = "GOOGLE_API_KEY", hide_env_values = true)]
    pub google_api_key: Option<Secret>,
    /// A file holding the Google key (secret managers mount files).
    #[arg(long, env = "GOOGLE_API_KEY_FILE")]
    pub google_api_key_file: Option<std::path::PathBuf>,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Secret>,
    /// A file holding the OpenAI key.
    #[arg(long, env = "OPENAI_API_KEY_FILE")]
    pub openai_api_key_file: Option<std::path::PathBuf>,
    /// Most model calls one turn may make.
    #[arg(long, env = "LLM_MAX_STEPS", default_value_t = 6)]
    pub llm_max_steps: usize,
    /// Earlier exchanges of the conversation shown to the model (and kept in the session).
    #[arg(long, env = "LLM_HISTORY_TURNS", default_value_t = 20)]
    pub llm_history_turns: usize,
    /// Model calls in flight at once in this worker.
    #[arg(long, env = "LLM_CONCURRENCY", default_value_t = 1024)]
    pub llm_concurrency: usize,
    /// Seconds one model call may take.
    #[arg(long, env = "LLM_TIMEOUT", default_value_t = 60.0)]
    pub llm_timeout: f64,
    /// Attempts per provider per model call (the first included).
    #[arg(long, env = "LLM_ATTEMPTS", default_value_t = 3)]
    pub llm_attempts: usize,
    /// Consecutive failed calls that open a provider's circuit.
    #[arg(long, env = "LLM_BREAKER_FAILURES", default_value_t = 5)]
    pub llm_breaker_failures: u32,
    /// Seconds an open circuit refuses calls before a probe.
    #[arg(long, env = "LLM_BREAKER_COOLDOWN", default_value_t = 30.0)]
    pub llm_breaker_cooldown: f64,
    /// Tokens one principal's turns may use per UTC day; unset: no limit.
    #[arg(long, env = "LLM_DAILY_TOKENS_PER_PRINCIPAL")]
    pub llm_daily_tokens_per_principal: Option<i64>,
}

impl Config {
    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.topology.validate()?;
        self.database.validate()?;
        self.payment.keyring()?;
        self.http_trust.certificates()?;
        if self.pull_batch == 0 {
            return Err("PULL_BATCH must be at least 1".into());
        }
        if self.max_held_messages == 0 {
            return Err("MAX_HELD_MESSAGES must be at least 1".into());
        }
        if self.turn_batch == 0 {
            return Err("TURN_BATCH must be at least 1".into());
        }
        if self.turn_transactions == 0 || self.turn_transactions > self.database.db_pool_size as usize {
            return Err("TURN_TRANSACTIONS must be between 1 and DB_POOL_SIZE".into());
        }
        if self.fetch_predecessor_after == 0 {
            return Err("FETCH_PREDECESSOR_AFTER must be at least 1 second".into());
        }
        if self.stuck_task_after == 0 {
            return Err("STUCK_TASK_AFTER must be at least 1 second".into());
        }
        if self.session_ttl == 0 {
            return Err("SESSION_TTL must be at least 1 second".into());
        }
        for (name, value) in [("PROCESSED_RETENTION", self.processed_retention), ("TASK_RETENTION", self.task_retention)] {
            if value < MIN_RETENTION {
                return Err(format!("{name} must be at least {MIN_RETENTION} seconds (24 hours), got {value}"));
            }
        }
        self.llm.validate()
    }

    pub fn reconcile_after(&self) -> Duration {
        Duration::from_secs(self.reconcile_after)
    }

    pub fn fetch_predecessor_after(&self) -> Duration {
        Duration::from_secs(self.fetch_predecessor_after)
    }

    pub fn stuck_task_after(&self) -> Duration {
        Duration::from_secs(self.stuck_task_after)
    }

    pub fn retention(&self) -> crate::maintenance::retention::Retention {
        crate::maintenance::retention::Retention {
            processed_messages: Duration::from_secs(self.processed_retention),
            tasks: Duration::from_secs(self.task_retention),
        }
    }
}

fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{name} must be a positive number of seconds"))
}

impl LlmArgs {
    fn validate(&self) -> Result<(), String> {
        if self.llm_max_steps == 0 {
            return Err("LLM_MAX_STEPS must be at least 1".into());
        }
        if self.llm_concurrency == 0 {
            return Err("LLM_CONCURRENCY must be at least 1".into());
        }
        if self.llm_attempts == 0 {
            return Err("LLM_ATTEMPTS must be at least 1".into());
        }
        seconds("LLM_TIMEOUT", self.llm_timeout)?;
        seconds("LLM_BREAKER_COOLDOWN", self.llm_breaker_cooldown)?;
        if self.llm_daily_tokens_per_principal.is_some_and(|t| t < 1) {
            return Err("LLM_DAILY_TOKENS_PER_PRINCIPAL must be at least 1".into());
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.llm_timeout)
    }

    pub fn breaker_cooldown(&self) -> Duration {
        Duration::from_secs_f64(self.llm_breaker_cooldown)
    }

    /// The providers to use, primary first; empty means offline. Reads key files.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, String> {
        let google = secret::resolve(self.google_api_key.as_ref(), self.google_api_key_file.as_deref(), "GOOGLE_API_KEY")?;
        let openai = secret::resolve(self.openai_api_key.as_ref(), self.openai_api_key_file.as_deref(), "OPENAI_API_KEY")?;
        let primary = match self.llm_provider.as_deref() {
            Some("offline") => return Ok(Vec::new()),
            Some("gemini") => Dialect::Gemini,
            Some(_) => Dialect::OpenAi,
            None if google.is_some() => Dialect::Gemini,
            None if openai.is_some() => Dialect::OpenAi,
            None => return Ok(Vec::new()),
        };
        let key_for = |dialect| match dialect {
            Dialect::Gemini => google.clone(),
            Dialect::OpenAi => openai.clone(),
        };
        let mut endpoints = vec![endpoint(primary, self.llm_model.as_deref(), self.llm_base_url.as_deref(), key_for(primary))?];
        if let Some(fallback) = self.llm_fallback.as_deref() {
            let dialect = if fallback == "gemini" { Dialect::Gemini } else { Dialect::OpenAi };
            endpoints.push(endpoint(
                dialect,
                self.llm_fallback_model.as_deref(),
                self.llm_fallback_base_url.as_deref(),
                key_for(dialect),
            )?);
        }
        Ok(endpoints)
    }
}

fn endpoint(dialect: Dialect, model: Option<&str>, base_url: Option<&str>, api_key: Option<Secret>) -> Result<Endpoint, String> {
    let (default_model, default_url, key_var) = match dialect {
        Dialect::Gemini => ("gemini-2.5-flash", "https://generativelanguage.googleapis.com/v1beta", "GOOGLE_API_KEY"),
        Dialect::OpenAi => ("gpt-4o-mini", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    };
    // A self-hosted server (LLM_BASE_URL) may need no key; the public endpoints do.
    if api_key.is_none() && base_url.is_none() {
        return Err(format!("{} needs {key_var} or {key_var}_FILE (or a base URL of a server that needs no key)", dialect.name()));
    }
    let base_url = base_url.unwrap_or(default_url).to_owned();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(format!("{} base URL must start with http:// or https://", dialect.name()));
    }
    Ok(Endpoint {
        dialect,
        model: model.unwrap_or(default_model).to_owned(),
        base_url,
        api_key,
    })
}
