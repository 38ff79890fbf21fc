//! Orders placed by completed checkouts. One per checkout (a unique constraint says so).

use schemas::ucp::Checkout;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// Records the order of a completed checkout.
pub async fn insert(
    conn: &mut PgConnection,
    order_id: &str,
    checkout_id: Uuid,
    principal: &str,
    checkout: &Checkout,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO orders (id, checkout_id, principal, total_minor, currency, body)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(order_id)
    .bind(checkout_id)
    .bind(principal)
    .bind(checkout.total("total").unwrap_or(0))
    .bind(&checkout.currency)
    .bind(serde_json::to_value(checkout)?)
    .execute(conn)
    .await?;
    Ok(())
}
