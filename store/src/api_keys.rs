//! API keys: stored as the SHA-256 of their secret part, looked up by their public id, revoked
//! by setting `revoked_at`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::Result;

/// A key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub principal: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key may use the admin API.
    pub admin: bool,
}

pub async fn insert(pool: &PgPool, id: &str, principal: &str, name: &str, secret_hash: &[u8], admin: bool) -> Result<()> {
    sqlx::query("INSERT INTO api_keys (id, principal, name, secret_hash, admin) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(principal)
        .bind(name)
        .bind(secret_hash)
        .bind(admin)
        .execute(pool)
        .await?;
    Ok(())
}

/// The key with this id, revoked or not.
pub async fn find(pool: &PgPool, id: &str) -> Result<Option<ApiKey>> {
    Ok(sqlx::query_as("SELECT * FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Every key, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<ApiKey>> {
    Ok(sqlx::query_as("SELECT * FROM api_keys ORDER BY created_at, id")
        .fetch_all(pool)
        .await?)
}

/// Revokes a key; false if there is no such key (revoking twice is fine).
pub async fn revoke(pool: &PgPool, id: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
