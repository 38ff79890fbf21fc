//! Checkouts. A conversation has at most one open checkout (a partial unique index says so);
//! a completed or canceled one stays for the record and for `get_checkout`.

use schemas::ucp::Checkout;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Error, Result};

/// A checkout with the version its row had when read.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub checkout: Checkout,
    pub version: i64,
}

/// The conversation's open checkout, locked until the caller's transaction ends.
pub async fn open_for_update(conn: &mut PgConnection, principal: &str, context_id: &str) -> Result<Option<Versioned>> {
    let row: Option<(serde_json::Value, i64)> = sqlx::query_as(
        "SELECT body, version FROM checkouts
         WHERE principal = $1 AND context_id = $2 AND status NOT IN ('completed', 'canceled')
         FOR UPDATE",
    )
    .bind(principal)
    .bind(context_id)
    .fetch_optional(conn)
    .await?;
    row.map(|(body, version)| {
        Ok(Versioned {
            checkout: serde_json::from_value(body)?,
            version,
        })
    })
    .transpose()
}

/// The conversation's most recently changed checkout, open or not.
pub async fn latest(conn: &mut PgConnection, principal: &str, context_id: &str) -> Result<Option<Checkout>> {
    let body: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT body FROM checkouts WHERE principal = $1 AND context_id = $2
         ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(principal)
    .bind(context_id)
    .fetch_optional(conn)
    .await?;
    Ok(body.map(serde_json::from_value).transpose()?)
}

/// Stores a new checkout.
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    principal: &str,
    context_id: &str,
    checkout: &Checkout,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO checkouts (id, principal, context_id, status, body, expires_at)
         VALUES ($1, $2, $3, $4::checkout_status, $5, $6)",
    )
    .bind(id)
    .bind(principal)
    .bind(context_id)
    .bind(checkout.status.as_str())
    .bind(serde_json::to_value(checkout)?)
    .bind(checkout.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes a changed checkout if its row still has `version`; bumps the version.
pub async fn update(conn: &mut PgConnection, id: Uuid, checkout: &Checkout, version: i64) -> Result<()> {
    let done = sqlx::query(
        "UPDATE checkouts SET status = $2::checkout_status, body = $3, expires_at = $4,
                version = version + 1, updated_at = now()
         WHERE id = $1 AND version = $5",
    )
    .bind(id)
    .bind(checkout.status.as_str())
    .bind(serde_json::to_value(checkout)?)
    .bind(checkout.expires_at)
    .bind(version)
    .execute(conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::CheckoutVersionConflict(id));
    }
    Ok(())
}
