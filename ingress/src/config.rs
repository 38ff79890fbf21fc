//! Ingress configuration, read from the environment (each variable also has a flag).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jsonwebtoken::Algorithm;
use lifecycle::secret::{self, Secret};
use lifecycle::tls::HttpTrustArgs;
use queue::TopologyArgs;
use store::DatabaseArgs;
use vault::PaymentArgs;

use lifecycle::outbound::Allowlist;

/// How long a blocking `message/send` waits for its task before returning it as it is.
pub const BLOCKING_TIMEOUT_DEFAULT: u64 = 30;
/// The largest request body accepted.
pub const MAX_BODY_BYTES_DEFAULT: usize = 256 * 1024;
/// Most tasks one statement records or reads.
pub const STORE_BATCH_DEFAULT: usize = 64;
/// Statements of each kind (accepts, reads) run at once; each holds a connection of the pool.
/// Two: one statement can run while the other waits for its commit's WAL flush, and requests
/// that arrive meanwhile gather into larger batches than with four (fewer commits, less CPU per
/// task: BENCHMARKS.md, issue 11); one would batch most, but a single accept held up by a lock
/// (a conversation whose turn is being applied) would then hold up every accept.
pub const STORE_STATEMENTS_DEFAULT: usize = 2;
/// Requests of each kind waiting for a store statement.
pub const STORE_QUEUE_DEFAULT: usize = 4096;
/// A2A requests in flight per ingress.
pub const MAX_IN_FLIGHT_DEFAULT: usize = 8192;
/// Requests per second per principal.
pub const RATE_LIMIT_PRINCIPAL_DEFAULT: u32 = 200;
/// Requests per second per client IP.
pub const RATE_LIMIT_IP_DEFAULT: u32 = 400;
/// The shortest JWT secret accepted (HS256 wants at least 256 bits).
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Parser)]
#[command(name = "cartwright-ingress", about = "Cartwright's A2A ingress")]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "AGENT_HOST", default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Port to listen on.
    #[arg(long, env = "AGENT_PORT", default_value_t = 10999, global = true)]
    pub port: u16,
    /// The URL clients reach this agent at: the agent card, the UCP profile and image URLs use it.
    #[arg(long, env = "PUBLIC_URL", default_value = "http://127.0.0.1:10999", global = true)]
    pub public_url: String,
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
    /// HS256 secret for bearer JWTs (at least 32 bytes). Required.
    #[arg(long, env = "AUTH_JWT_SECRET", hide_env_values = true, global = true)]
    pub auth_jwt_secret: Option<Secret>,
    /// A file holding the JWT secret, read when AUTH_JWT_SECRET is unset.
    #[arg(long, env = "AUTH_JWT_SECRET_FILE", global = true)]
    pub auth_jwt_secret_file: Option<PathBuf>,
    /// The one JWT algorithm accepted: HS256 (AUTH_JWT_SECRET), or RS256, ES256 or EdDSA
    /// (AUTH_JWKS_URL).
    #[arg(long, env = "AUTH_JWT_ALGORITHM", default_value = "HS256", value_parser = ["HS256", "RS256", "ES256", "EdDSA"], global = true)]
    pub auth_jwt_algorithm: String,
    /// The identity provider's JWK set, for RS256, ES256 and EdDSA.
    #[arg(long, env = "AUTH_JWKS_URL", global = true)]
    pub auth_jwks_url: Option<String>,
    /// Seconds between refreshes of the JWK set asked for by tokens with an unknown `kid`.
    #[arg(long, env = "AUTH_JWKS_MIN_REFRESH", default_value_t = 10, global = true)]
    pub auth_jwks_min_refresh: u64,
    /// The `iss` every token must have; unset: not checked.
    #[arg(long, env = "AUTH_JWT_ISSUER", global = true)]
    pub auth_jwt_issuer: Option<String>,
    /// The `aud` every token must include; unset: not checked.
    #[arg(long, env = "AUTH_JWT_AUDIENCE", global = true)]
    pub auth_jwt_audience: Option<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    #[arg(long, env = "AUTH_JWT_LEEWAY", default_value_t = 30, global = true)]
    pub auth_jwt_leeway: u64,
    /// Seconds an ingress remembers a looked-up API key (a revoked key stops working within this).
    #[arg(long, env = "API_KEY_CACHE_TTL", default_value_t = 5, global = true)]
    pub api_key_cache_ttl: u64,
    /// Seconds a blocking message/send waits for its task.
    #[arg(long, env = "BLOCKING_TIMEOUT", default_value_t = BLOCKING_TIMEOUT_DEFAULT, global = true)]
    pub blocking_timeout: u64,
    /// Seconds any request may take before it is answered with a JSON-RPC error (HTTP 504).
    /// Unset: BLOCKING_TIMEOUT + 10, so only a stuck request is cut.
    #[arg(long, env = "REQUEST_TIMEOUT", global = true)]
    pub request_timeout: Option<u64>,
    /// Most tasks (of concurrent requests) recorded or read by one statement.
    #[arg(long, env = "STORE_BATCH", default_value_t = STORE_BATCH_DEFAULT, global = true)]
    pub store_batch: usize,
    /// Accept statements, and read statements, run at once; requests that arrive meanwhile go
    /// in the next one.
    #[arg(long, env = "STORE_STATEMENTS", default_value_t = STORE_STATEMENTS_DEFAULT, global = true)]
    pub store_statements: usize,
    /// Accept requests, and read requests, waiting for a statement; more are answered 503.
    #[arg(long, env = "STORE_QUEUE", default_value_t = STORE_QUEUE_DEFAULT, global = true)]
    pub store_queue: usize,
    /// A2A requests in flight at once (blocking sends included); more are answered 503.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = MAX_IN_FLIGHT_DEFAULT, global = true)]
    pub max_in_flight: usize,
    /// Requests per second per principal, across every ingress; 0: no limit.
    #[arg(long, env = "RATE_LIMIT_PRINCIPAL", default_value_t = RATE_LIMIT_PRINCIPAL_DEFAULT, global = true)]
    pub rate_limit_principal: u32,
    /// Requests per second per client IP, across every ingress; 0: no limit.
    #[arg(long, env = "RATE_LIMIT_IP", default_value_t = RATE_LIMIT_IP_DEFAULT, global = true)]
    pub rate_limit_ip: u32,
    /// Largest request body in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = MAX_BODY_BYTES_DEFAULT, global = true)]
    pub max_body_bytes: usize,
    /// Hosts whose UCP profiles may be fetched: `host`, `host:port` or `*.domain`, comma
    /// separated. Unset: any host with a public address over https. Hosts named exactly (not
    /// by `*.`) may also use http and private addresses (development).
    #[arg(long, env = "UCP_PROFILE_ALLOWLIST", default_value = "", global = true)]
    pub ucp_profile_allowlist: String,
    /// The principal UCP REST requests without credentials act as. Unset (the default): such
    /// requests are refused (401). For platforms that do not authenticate, such as the UCP
    /// conformance suite; never set it where the REST endpoint is reachable by strangers.
    #[arg(long, env = "UCP_REST_ANONYMOUS_PRINCIPAL", global = true)]
    pub ucp_rest_anonymous_principal: Option<String>,
    /// The secret `POST /testing/simulate-shipping/{id}` needs in its `Simulation-Secret`
    /// header. Unset (the default): the simulation is refused (403).
    #[arg(long, env = "SIMULATION_SECRET", global = true)]
    pub simulation_secret: Option<Secret>,
    /// Folder of product images served at /images/.
    #[arg(long, env = "IMAGES_DIR", default_value = "seed/images", global = true)]
    pub images_dir: String,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `ingress=debug,info`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,
    /// Model tokens one principal's chat turns may use per UTC day; once spent, further chat
    /// messages are refused until 00:00 UTC. Unset: no limit. (The workers read it too.)
    #[arg(long, env = "LLM_DAILY_TOKENS_PER_PRINCIPAL", global = true)]
    pub llm_daily_tokens_per_principal: Option<i64>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Create the database if missing, apply migrations, load the catalog seed, and create or
    /// update the JetStream streams and consumers (this command owns the topology).
    Migrate {
        /// The merchant data set folder to load (catalog, stock, customers, pricing rules; see
        /// the README's "Merchant data"). A set loaded before is not loaded again.
        #[arg(long, env = "MERCHANT_DATA", default_value = "seed")]
        merchant_data: PathBuf,
    },
    /// Create, list or revoke API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Inspect, replay or discard dead letters.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Print a bearer token for a principal (HS256 only).
    Token {
        /// The principal (`sub`).
        #[arg(long, default_value = "dev")]
        subject: String,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
        /// Give the token the admin role (`"roles": ["admin"]`), for the admin API.
        #[arg(long)]
        admin: bool,
    },
}

/// Where JWT verification keys come from.
#[derive(Debug, Clone)]
pub enum JwtKeySource {
    Secret(Secret),
    Jwks(String),
}

#[derive(Debug, Clone, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for a principal; the key is printed once and never stored.
    Create {
        /// The principal the key acts as.
        #[arg(long)]
        principal: String,
        /// A label for operators.
        #[arg(long, default_value = "")]
        name: String,
        /// The key may use the admin API (dead letters).
        #[arg(long)]
        admin: bool,
    },
    /// List every key (ids, principals, names, when created and revoked; never secrets).
    List,
    /// Revoke a key by id; every ingress refuses it within API_KEY_CACHE_TTL seconds.
    Revoke {
        /// The key's id (the part after `cw_`, before the second `_`).
        id: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        #[command(flatten)]
        filters: crate::dlq::FilterArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter in full (JSON).
    Show { id: u64 },
    /// Replay dead letters: each task runs again in its place, then the ones behind it.
    Replay {
        /// Dead letter ids.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<u64>,
        /// Every dead letter matching the filters.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filters: crate::dlq::FilterArgs,
    },
    /// Discard dead letters: each task fails visibly and its conversation moves on.
    Discard {
        #[arg(required = true)]
        ids: Vec<u64>,
    },
}

impl Config {
    /// Checks what the types cannot, before anything connects.
    pub fn validate(&self) -> Result<(), String> {
        self.topology.validate()?;
        self.database.validate()?;
        self.payment.keyring()?;
        self.http_trust.certificates()?;
        self.profile_allowlist()?;
        schemas::merchant::Merchant::seed().offering(&self.payment.payment_handlers)?;
        self.secret()?;
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err("PUBLIC_URL must be an http(s) URL".into());
        }
        if self.store_batch == 0 {
            return Err("STORE_BATCH must be at least 1".into());
        }
        if self.store_statements == 0 || 2 * self.store_statements > self.database.db_pool_size as usize {
            return Err("STORE_STATEMENTS must be at least 1 and at most half of DB_POOL_SIZE".into());
        }
        if self.request_timeout.is_some_and(|t| t == 0 || t > 3600) {
            return Err("REQUEST_TIMEOUT must be between 1 and 3600 seconds".into());
        }
        if self.blocking_timeout == 0 || self.blocking_timeout > 600 {
            return Err("BLOCKING_TIMEOUT must be between 1 and 600 seconds".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("MAX_BODY_BYTES must be at least 1024".into());
        }
        if self.store_queue == 0 || self.max_in_flight == 0 {
            return Err("STORE_QUEUE and MAX_IN_FLIGHT must be at least 1".into());
        }
        if self.api_key_cache_ttl == 0 || self.api_key_cache_ttl > 300 {
            return Err("API_KEY_CACHE_TTL must be between 1 and 300 seconds".into());
        }
        if self
            .ucp_rest_anonymous_principal
            .as_ref()
            .is_some_and(|p| p.is_empty() || p.len() > crate::auth::MAX_SUBJECT_LEN)
        {
            return Err(format!("UCP_REST_ANONYMOUS_PRINCIPAL must be 1 to {} bytes", crate::auth::MAX_SUBJECT_LEN));
        }
        if self.simulation_secret.as_ref().is_some_and(|s| s.expose().len() < 16) {
            return Err("SIMULATION_SECRET must be at least 16 bytes".into());
        }
        if self.llm_daily_tokens_per_principal.is_some_and(|t| t < 1) {
            return Err("LLM_DAILY_TOKENS_PER_PRINCIPAL must be at least 1".into());
        }
        Ok(())
    }

    /// The JWT secret (AUTH_JWT_SECRET or AUTH_JWT_SECRET_FILE), checked.
    pub fn secret(&self) -> Result<Secret, String> {
        match secret::resolve(self.auth_jwt_secret.as_ref(), self.auth_jwt_secret_file.as_deref(), "AUTH_JWT_SECRET")? {
            Some(secret) if secret.expose().len() >= MIN_SECRET_LEN => Ok(secret),
            Some(_) => Err(format!("AUTH_JWT_SECRET must be at least {MIN_SECRET_LEN} bytes")),
            None => Err("AUTH_JWT_SECRET (or AUTH_JWT_SECRET_FILE) is required".into()),
        }
    }

    /// The JWT algorithm, and the secret (HS256) or the JWKS URL (the others), checked.
    pub fn jwt_keys_source(&self) -> Result<(Algorithm, JwtKeySource), String> {
        let algorithm = match self.auth_jwt_algorithm.as_str() {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "EdDSA" => Algorithm::EdDSA,
            _ => Algorithm::HS256,
        };
        if algorithm == Algorithm::HS256 {
            if self.auth_jwks_url.is_some() {
                return Err("AUTH_JWKS_URL needs AUTH_JWT_ALGORITHM RS256, ES256 or EdDSA".into());
            }
            return Ok((algorithm, JwtKeySource::Secret(self.secret()?)));
        }
        match &self.auth_jwks_url {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => Ok((algorithm, JwtKeySource::Jwks(url.clone()))),
            Some(_) => Err("AUTH_JWKS_URL must be an http(s) URL".into()),
            None => Err(format!("AUTH_JWT_ALGORITHM={} needs AUTH_JWKS_URL", self.auth_jwt_algorithm)),
        }
    }

    /// The parsed UCP_PROFILE_ALLOWLIST.
    pub fn profile_allowlist(&self) -> Result<Allowlist, String> {
        Allowlist::parse(&self.ucp_profile_allowlist)
    }

    pub fn blocking_timeout(&self) -> Duration {
        Duration::from_secs(self.blocking_timeout)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout.unwrap_or(self.blocking_timeout + 10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_dump_holds_no_secret() {
        let config = Config::try_parse_from([
            "cartwright-ingress",
            "--auth-jwt-secret",
            "jwt-secret-jwt-secret-jwt-secret-0123",
            "--database-url",
            "postgres://app:db-password-42@db.internal/cartwright",
            "--payment-key",
            "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ])
        .expect("parses");
        assert!(config.validate().is_ok());
        let dump = format!("{config:?}");
        for secret in ["jwt-secret-jwt", "db-password-42", "AAECAwQF"] {
            assert!(!dump.contains(secret), "{secret} in {dump}");
        }
        assert!(dump.contains("[redacted]"));
    }
}
