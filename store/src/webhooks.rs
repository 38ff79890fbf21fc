//! The webhook outbox: order events written in the transaction that caused them, delivered by
//! the workers' dispatcher until the platform answers 2xx. Nothing is dropped.
//!
//! - A new event is sent at once. One that failed joins its receiver's backlog.
//! - A receiver's backlog is retried on the receiver's own backoff (failures in a row set it),
//!   and only once the receiver has had no new event for the quiet period: a receiver that
//!   comes back gets what happens now first, then what it missed.
//! - One order's events go out in the order they were written: an event waits while an earlier
//!   one of its order is undelivered.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use crate::Result;

/// An event to deliver.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub principal: String,
    pub order_id: String,
    pub event_type: String,
    pub url: String,
    pub body: Value,
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub order_id: String,
    pub event_type: String,
    pub url: String,
    pub body: Value,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// Queues events in the caller's transaction (one statement).
pub async fn enqueue(conn: &mut PgConnection, deliveries: &[NewDelivery]) -> Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO webhook_deliveries (principal, order_id, event_type, url, body)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])",
    )
    .bind(deliveries.iter().map(|d| d.principal.as_str()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.order_id.as_str()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.event_type.as_str()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.url.as_str()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| Json(&d.body)).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` deliveries that may be attempted now (new events first), each for
/// `lease_secs`: another dispatcher skips them until the lease ends. Receivers of new events are
/// marked as having had one now.
pub async fn claim(pool: &PgPool, limit: i64, lease_secs: f64, quiet_secs: f64) -> Result<Vec<Delivery>> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(i64, String, String, String, Json<Value>, i32)> = sqlx::query_as(
        "WITH due AS (
             SELECT d.id FROM webhook_deliveries d
             LEFT JOIN webhook_endpoints w ON w.url = d.url
             WHERE d.delivered_at IS NULL AND d.next_attempt_at <= now()
               AND NOT EXISTS (
                   SELECT 1 FROM webhook_deliveries e
                   WHERE e.order_id = d.order_id AND e.delivered_at IS NULL AND e.id < d.id
               )
               AND (d.attempts = 0 OR w.url IS NULL
                    OR (w.retry_at <= now()
                        AND (w.fresh_at IS NULL OR w.fresh_at < now() - make_interval(secs => $3))))
             ORDER BY d.attempts = 0 DESC, d.id
             LIMIT $1
             FOR UPDATE OF d SKIP LOCKED
         )
         UPDATE webhook_deliveries d
         SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
         FROM due WHERE d.id = due.id
         RETURNING d.id, d.order_id, d.event_type, d.url, d.body, d.attempts",
    )
    .bind(limit)
    .bind(lease_secs)
    .bind(quiet_secs)
    .fetch_all(&mut *tx)
    .await?;
    let mut fresh: Vec<&str> = rows
        .iter()
        .filter(|(_, _, _, _, _, attempts)| *attempts == 1)
        .map(|(_, _, _, url, _, _)| url.as_str())
        .collect();
    fresh.sort_unstable();
    fresh.dedup();
    if !fresh.is_empty() {
        sqlx::query(
            "INSERT INTO webhook_endpoints (url, fresh_at) SELECT u, now() FROM unnest($1::text[]) AS u
             ON CONFLICT (url) DO UPDATE SET fresh_at = now()",
        )
        .bind(&fresh)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(id, order_id, event_type, url, Json(body), attempts)| Delivery {
            id,
            order_id,
            event_type,
            url,
            body,
            attempts,
        })
        .collect())
}

/// Records a delivery the platform took; its receiver is healthy again.
pub async fn delivered(pool: &PgPool, delivery: &Delivery) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE webhook_deliveries SET delivered_at = now(), last_error = NULL WHERE id = $1")
        .bind(delivery.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (url) VALUES ($1)
         ON CONFLICT (url) DO UPDATE SET failures = 0, retry_at = now()",
    )
    .bind(&delivery.url)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a failed attempt: the delivery joins its receiver's backlog, and the receiver's
/// failures in a row go up by one. Returns that count, for the caller's backoff.
pub async fn failed(pool: &PgPool, delivery: &Delivery, error: &str) -> Result<i32> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now(), last_error = $2 WHERE id = $1")
        .bind(delivery.id)
        .bind(error)
        .execute(&mut *tx)
        .await?;
    let failures: i32 = sqlx::query_scalar(
        "INSERT INTO webhook_endpoints (url, failures) VALUES ($1, 1)
         ON CONFLICT (url) DO UPDATE SET failures = webhook_endpoints.failures + 1
         RETURNING failures",
    )
    .bind(&delivery.url)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(failures)
}

/// Sets when a failing receiver's backlog is next tried.
pub async fn retry_endpoint_at(pool: &PgPool, url: &str, at: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE webhook_endpoints SET retry_at = greatest(retry_at, $2) WHERE url = $1")
        .bind(url)
        .bind(at)
        .execute(pool)
        .await?;
    Ok(())
}
