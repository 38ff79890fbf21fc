//! Orders placed by completed checkouts. One per checkout (a unique constraint says so). The
//! body is the UCP order document; after placement only its fulfillment events and
//! adjustments change (`PUT /orders/{id}`, the shipping simulation).

use schemas::ucp::Order;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::Result;

/// An order a turn placed.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: String,
    pub checkout_id: Uuid,
    pub principal: String,
    pub total_minor: i64,
    pub currency: String,
    pub order: Order,
    /// Where the platform wants order events (from its UCP profile at completion).
    pub webhook_url: Option<String>,
}

/// Records the orders of completed checkouts (one statement for a batch of turns).
pub async fn insert(conn: &mut PgConnection, orders: &[NewOrder]) -> Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO orders (id, checkout_id, principal, total_minor, currency, body, webhook_url)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[], $7::text[])",
    )
    .bind(orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.checkout_id).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.principal.as_str()).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.total_minor).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.currency.as_str()).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| Json(&o.order)).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.webhook_url.as_deref()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The principal's order `id`, if it exists and is theirs.
pub async fn get(pool: &PgPool, principal: &str, id: &str) -> Result<Option<(Order, String)>> {
    let row: Option<(Json<Order>, String)> =
        sqlx::query_as("SELECT o.body, c.context_id FROM orders o JOIN checkouts c ON c.id = o.checkout_id WHERE o.id = $1 AND o.principal = $2")
            .bind(id)
            .bind(principal)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(Json(order), context_id)| (order, context_id)))
}

/// The principal's order `id` and its webhook URL, locked until the caller's transaction ends.
pub async fn for_update(conn: &mut PgConnection, principal: &str, id: &str) -> Result<Option<(Order, Option<String>)>> {
    let row: Option<(Json<Order>, Option<String>)> =
        sqlx::query_as("SELECT body, webhook_url FROM orders WHERE id = $1 AND principal = $2 FOR UPDATE")
            .bind(id)
            .bind(principal)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(Json(order), webhook_url)| (order, webhook_url)))
}

/// Stores an order's changed document.
pub async fn replace(conn: &mut PgConnection, id: &str, order: &Order) -> Result<()> {
    sqlx::query("UPDATE orders SET body = $2 WHERE id = $1")
        .bind(id)
        .bind(Json(order))
        .execute(conn)
        .await?;
    Ok(())
}
