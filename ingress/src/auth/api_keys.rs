//! API keys for server-to-server agents, sent as `X-API-Key: cw_<id>_<secret>`. Only the
//! SHA-256 of the secret is stored; keys are created, listed and revoked with
//! `cartwright-ingress api-key`. Each ingress remembers a looked-up key for
//! `API_KEY_CACHE_TTL` seconds, so a revoked key stops working on every ingress within that.

use std::time::Duration;

use moka::future::Cache;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use store::api_keys::ApiKey;

use super::{Identity, Principal};
use crate::error::Error;

/// The prefix of every key.
pub const KEY_PREFIX: &str = "cw_";
/// Hex digits of a key's public id.
const ID_LEN: usize = 16;
/// The most keys remembered.
const CACHE_CAPACITY: u64 = 16_384;

/// A new key: its public id and the whole key, shown once.
pub struct NewKey {
    pub id: String,
    pub key: String,
    pub secret_hash: Vec<u8>,
}

/// A fresh key from the operating system's random generator (through UUID v4: 122 random bits
/// per UUID; the secret holds two, the id 64 bits).
pub fn generate() -> NewKey {
    let id = uuid::Uuid::new_v4().simple().to_string()[..ID_LEN].to_owned();
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    NewKey {
        key: format!("{KEY_PREFIX}{id}_{secret}"),
        secret_hash: hash(&secret),
        id,
    }
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The id and secret of a well-formed key.
fn split(key: &str) -> Option<(&str, &str)> {
    let (id, secret) = key.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    (id.len() == ID_LEN && hex(id) && !secret.is_empty() && secret.len() <= 128).then_some((id, secret))
}

/// Compares digests in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies keys against the store, through a short cache.
pub struct ApiKeys {
    pool: PgPool,
    cache: Cache<String, Option<ApiKey>>,
}

impl ApiKeys {
    pub fn new(pool: PgPool, ttl: Duration) -> ApiKeys {
        ApiKeys {
            pool,
            cache: Cache::builder().max_capacity(CACHE_CAPACITY).time_to_live(ttl).build(),
        }
    }

    /// The key's owner, if the key is valid and not revoked.
    pub async fn verify(&self, key: &str) -> Result<Identity, Error> {
        let invalid = || Error::Unauthenticated("the API key is not valid".into());
        let (id, secret) = split(key).ok_or_else(invalid)?;
        let pool = self.pool.clone();
        let stored = self
            .cache
            .try_get_with(id.to_owned(), async move { store::api_keys::find(&pool, id).await })
            .await
            .map_err(|error| Error::from(&*error))?;
        match stored {
            Some(stored) if stored.revoked_at.is_none() && same(&stored.secret_hash, &hash(secret)) => Ok(Identity {
                principal: Principal::new(stored.principal)?,
                admin: stored.admin,
            }),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_split_back_and_hash_their_secret() {
        let new = generate();
        let (id, secret) = split(&new.key).expect("well formed");
        assert_eq!(id, new.id);
        assert!(same(&hash(secret), &new.secret_hash));
        assert!(!same(&hash("other"), &new.secret_hash));
        assert_ne!(generate().key, new.key);
        for bad in ["", "cw_", "cw_123_x", "xx_0123456789abcdef_s", "cw_0123456789abcdeg_s", "cw_0123456789abcdef_"] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }
}
