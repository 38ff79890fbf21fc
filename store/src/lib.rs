//! Cartwright's PostgreSQL store, shared by the ingress and the workers.
//!
//! Each state change is one named function holding one statement, guarded by the state it
//! expects. Functions that belong to a worker's turn take `&mut PgConnection` so the caller owns
//! the transaction: the dedup record, the effects and the task result commit together or not at
//! all.
//!
//! # Layout
//! - [`api_keys`]: API keys by id, stored as hashes; revocation.
//! - [`batch`]: many concurrent callers, one statement or transaction per batch.
//! - [`config`]: the database settings (URL or URL file, pool size).
//! - [`dead_letters`]: failed attempts; dead-lettered tasks held, replayed or discarded.
//! - [`db`]: connecting, creating the database, migrations and their currency check.
//! - [`tasks`]: accepting tasks (idempotent on `(principal, messageId)`), reading, finishing, cancelling.
//! - [`contexts`]: conversation sequence numbers: assigned at acceptance, fenced at apply.
//! - [`dedup`]: processed JetStream message ids.
//! - [`checkouts`]: the open checkout of a conversation, version-checked writes.
//! - [`catalog`]: products, keyword search and the in-memory catalog.
//! - [`merchant_data`]: loading a merchant data set folder (catalog, stock, customers, pricing rules).
//! - [`inventory`]: stock per product: reading it, reserving it for an order.
//! - [`customers`]: buyers and their saved addresses.
//! - [`pricing`]: discount codes, promotions, shipping and tax rates, cached in memory.
//! - [`orders`]: orders placed by completed checkouts.
//! - [`rate_counts`]: request counts per rate-limit key and second, shared by every ingress.
//! - [`retention`]: purging processed-message records, finished tasks and idle conversations.
//! - [`notify`]: task-change notifications (LISTEN/NOTIFY) a blocking request awaits.
//! - [`sessions`]: the agent's per-conversation history and capabilities; the idle sweep.
//! - [`journal`]: each model response of a turn, for replay after a crash.
//! - [`usage`]: tokens per principal per day, for the daily budget.
//! - [`webhooks`]: the outbox of order events to platforms, claimed, retried, delivered in order.

pub mod api_keys;
pub mod batch;
pub mod catalog;
pub mod checkouts;
pub mod config;
pub mod contexts;
pub mod customers;
pub mod db;
pub mod dead_letters;
pub mod dedup;
pub mod inventory;
pub mod journal;
pub mod merchant_data;
pub mod notify;
pub mod orders;
pub mod pricing;
pub mod rate_counts;
pub mod reconcile;
pub mod retention;
pub mod sessions;
pub mod singleton;
pub mod stuck;
pub mod tasks;
pub mod usage;
pub mod webhooks;

pub use config::DatabaseArgs;
pub use db::{connect, ensure_database, migrate, migrations_current, MIGRATOR};
pub use sqlx::{PgConnection, PgPool};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document is malformed: {0}")]
    Document(#[from] serde_json::Error),
    #[error("checkout {0} changed underneath this transaction")]
    CheckoutVersionConflict(uuid::Uuid),
    #[error("stored request no longer parses: {0}")]
    StoredRequest(String),
    #[error("context {0:?} belongs to another principal")]
    ForeignContext(String),
    /// A merchant data set that cannot be loaded: the file, line and field, and what is wrong.
    #[error("merchant data is invalid: {0}")]
    MerchantData(String),
    /// The turn's code panicked: a bug no retry fixes, so the turn is dead-lettered at once.
    #[error("the turn panicked: {0}")]
    TurnPanicked(String),
    #[error("the last units of {0} were taken by another order since the completion checked them; the turn runs again")]
    StockTaken(String),
    /// A failure injected by a test build's fault point (`workers/src/fault.rs`).
    #[error("injected fault ({})", if *permanent { "permanent" } else { "retryable" })]
    Injected { permanent: bool },
}

impl Error {
    /// True when no retry can make the operation succeed: the stored data it works on is
    /// malformed or belongs to someone else. A turn that fails so is dead-lettered at once.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::Document(_)
                | Error::StoredRequest(_)
                | Error::ForeignContext(_)
                | Error::TurnPanicked(_)
                | Error::Injected { permanent: true }
        )
    }

    /// True when the error says the database could not be reached or the connection broke,
    /// as opposed to a statement that failed on its own.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
            )
        ) || matches!(self, Error::Database(sqlx::Error::Database(e)) if e.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One failure shared by every item of a batch (see [`batch`]).
pub type SharedError = std::sync::Arc<Error>;

/// The same failure, once for each of `count` items of a batch.
pub fn fail_each<T>(count: usize, error: Error) -> Vec<Result<T, SharedError>> {
    let error = SharedError::new(error);
    (0..count).map(|_| Err(error.clone())).collect()
}

/// The name of a violated constraint, if the error is a constraint violation.
pub(crate) fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(e) => e.constraint(),
        _ => None,
    }
}
