//! The database settings both the ingress and the workers read from the environment.
//!
//! TLS is the URL's business, as libpq has it: `sslmode=require` encrypts, `verify-ca` and
//! `verify-full` also check the server's certificate against the platform's roots or the CA
//! file in `sslrootcert`.

use std::path::PathBuf;

use clap::Args;
use lifecycle::secret::{self, Secret};

/// Database connections per process: PostgreSQL on a small machine peaks at 8-16 busy
/// connections (see BENCHMARKS.md).
pub const DB_POOL_SIZE_DEFAULT: u32 = 16;
/// The database a local install uses.
pub const DATABASE_URL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/cartwright";

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL (it may hold a password: never printed).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<Secret>,
    /// A file holding the connection URL, read when DATABASE_URL is unset.
    #[arg(long, env = "DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,
    /// Connections in this process's PostgreSQL pool.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = DB_POOL_SIZE_DEFAULT, global = true)]
    pub db_pool_size: u32,
}

impl DatabaseArgs {
    /// The connection URL: DATABASE_URL, else the file DATABASE_URL_FILE names, else the
    /// local default.
    pub fn url(&self) -> Result<Secret, String> {
        let url = secret::resolve(self.database_url.as_ref(), self.database_url_file.as_deref(), "DATABASE_URL")?;
        Ok(url.unwrap_or_else(|| Secret::new(DATABASE_URL_DEFAULT)))
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.db_pool_size == 0 {
            return Err("DB_POOL_SIZE must be at least 1".into());
        }
        let url = self.url()?;
        if !(url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://")) {
            return Err("DATABASE_URL must be a postgres:// URL".into());
        }
        Ok(())
    }
}
