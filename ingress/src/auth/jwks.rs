//! The identity provider's keys (`AUTH_JWKS_URL`): fetched at start and every
//! `JWKS_TTL`, and again, at most once per `AUTH_JWKS_MIN_REFRESH`, when a token names a `kid`
//! not in the set, so keys rotate without a restart and a flood of made-up `kid`s costs one
//! fetch per interval. Fetched with connect and total timeouts, no redirects and a size cap.
//! When a refresh fails the last good set stays in use; before any fetch succeeded, tokens
//! get 503 (retryable), not 401.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

/// How long a fetched key set is used before it is fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(600);
/// The largest key set read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The whole time one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no key was found for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The set (as fresh as the refresh limit allows) has no key with this `kid`.
    Unknown,
    /// No key set could be fetched yet.
    Unavailable,
}

#[derive(Default)]
struct Set {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

pub struct Jwks {
    url: String,
    algorithm: Algorithm,
    min_refresh: Duration,
    http: reqwest::Client,
    set: RwLock<Set>,
    refreshing: Mutex<()>,
}

impl Jwks {
    pub fn new(url: String, algorithm: Algorithm, min_refresh: Duration, trusted: &[reqwest::Certificate]) -> Result<Jwks, reqwest::Error> {
        let http = lifecycle::tls::trusting(reqwest::Client::builder(), trusted)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Jwks {
            url,
            algorithm,
            min_refresh,
            http,
            set: RwLock::new(Set::default()),
            refreshing: Mutex::new(()),
        })
    }

    /// The key for `kid` (a token without `kid` is accepted when the set holds one key).
    pub async fn key(&self, kid: Option<&str>) -> Result<Arc<DecodingKey>, KeyError> {
        let (found, due) = self.lookup(kid).await;
        if let (Some(key), false) = (&found, due) {
            return Ok(key.clone());
        }
        if due {
            self.refresh().await;
            if let (Some(key), _) = self.lookup(kid).await {
                return Ok(key);
            }
        }
        if let Some(key) = found {
            return Ok(key);
        }
        if self.set.read().await.fetched_at.is_none() {
            Err(KeyError::Unavailable)
        } else {
            Err(KeyError::Unknown)
        }
    }

    /// The key if present, and whether a fetch is due: the set is stale or lacks the key, and
    /// the last attempt is older than the refresh limit.
    async fn lookup(&self, kid: Option<&str>) -> (Option<Arc<DecodingKey>>, bool) {
        let set = self.set.read().await;
        let found = match kid {
            Some(kid) => set.keys.get(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.values().next().cloned(),
            None => None,
        };
        let stale = set.fetched_at.is_none_or(|at| at.elapsed() >= JWKS_TTL);
        let may_refresh = set.attempted_at.is_none_or(|at| at.elapsed() >= self.min_refresh);
        let due = (stale || found.is_none()) && may_refresh;
        (found, due)
    }

    /// Fetches the set again, at most once per refresh limit: callers that waited for a fetch
    /// in progress reuse its result.
    pub async fn refresh(&self) {
        let _one = self.refreshing.lock().await;
        if self.set.read().await.attempted_at.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return;
        }
        let fetched = self.fetch().await;
        let mut set = self.set.write().await;
        set.attempted_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS fetched");
                set.keys = keys;
                set.fetched_at = Some(Instant::now());
            }
            Err(cause) => tracing::warn!(%cause, kept = set.keys.len(), "JWKS fetch failed; keeping the last good keys"),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
        let mut response = self.http.get(&self.url).send().await.map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("body failed: {e}"))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
            }
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let usable = jwk.common.public_key_use.as_ref().is_none_or(|u| *u == PublicKeyUse::Signature)
                && jwk.common.key_algorithm.is_none_or(|alg| matches_algorithm(alg, self.algorithm));
            if !usable {
                continue;
            }
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(jwk.common.key_id.clone().unwrap_or_default(), Arc::new(key));
                }
                Err(error) => tracing::warn!(kid = ?jwk.common.key_id, %error, "JWKS key skipped"),
            }
        }
        Ok(keys)
    }
}

fn matches_algorithm(key: KeyAlgorithm, configured: Algorithm) -> bool {
    matches!(
        (key, configured),
        (KeyAlgorithm::RS256, Algorithm::RS256) | (KeyAlgorithm::ES256, Algorithm::ES256) | (KeyAlgorithm::EdDSA, Algorithm::EdDSA)
    )
}
