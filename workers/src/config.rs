//! Worker configuration, read from the environment (each variable also has a flag).

use std::time::Duration;

use clap::Parser;
use queue::TopologyArgs;

/// Database connections per worker process: PostgreSQL on a small machine peaks at 8-16 busy
/// connections (see BENCHMARKS.md).
pub const DB_POOL_SIZE_DEFAULT: u32 = 16;
/// Messages fetched per pull request.
pub const PULL_BATCH_DEFAULT: usize = 128;
/// Most turns one transaction applies.
pub const TURN_BATCH_DEFAULT: usize = 64;
/// Turn transactions a worker runs at once (each holds one connection of the pool).
pub const TURN_TRANSACTIONS_DEFAULT: usize = 2;
/// Checkout lifetime after its last change: 6 hours, the UCP default.
pub const SESSION_TTL_DEFAULT: u64 = 6 * 60 * 60;
/// Age after which an unapplied task is republished.
pub const RECONCILE_AFTER_DEFAULT: u64 = 30;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "cartwright-worker",
    about = "Consumes task partitions and applies each turn exactly once"
)]
pub struct Config {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/cartwright"
    )]
    pub database_url: String,
    /// Connections in this process's PostgreSQL pool.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = DB_POOL_SIZE_DEFAULT)]
    pub db_pool_size: u32,
    #[command(flatten)]
    pub topology: TopologyArgs,
    /// Messages fetched per pull request.
    #[arg(long, env = "PULL_BATCH", default_value_t = PULL_BATCH_DEFAULT)]
    pub pull_batch: usize,
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
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `workers=debug,info`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Benchmark-only stand-in for LLM latency until the agent arrives: milliseconds each turn
    /// waits (holding no database connection) before it runs. 0 in production.
    #[arg(long, env = "SIMULATED_TURN_MS", default_value_t = 0)]
    pub simulated_turn_ms: u64,
    /// Test-only fault point, `<before_commit|after_commit>:<messageId marker>`.
    #[arg(long, env = "CARTWRIGHT_FAULT")]
    pub fault: Option<String>,
}

impl Config {
    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.topology.validate()?;
        if self.db_pool_size == 0 {
            return Err("DB_POOL_SIZE must be at least 1".into());
        }
        if self.pull_batch == 0 {
            return Err("PULL_BATCH must be at least 1".into());
        }
        if self.turn_batch == 0 {
            return Err("TURN_BATCH must be at least 1".into());
        }
        if self.turn_transactions == 0 || self.turn_transactions > self.db_pool_size as usize {
            return Err("TURN_TRANSACTIONS must be between 1 and DB_POOL_SIZE".into());
        }
        if self.session_ttl == 0 {
            return Err("SESSION_TTL must be at least 1 second".into());
        }
        Ok(())
    }

    pub fn reconcile_after(&self) -> Duration {
        Duration::from_secs(self.reconcile_after)
    }
}
