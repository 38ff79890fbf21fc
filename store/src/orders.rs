//! Orders placed by completed checkouts. One per checkout (a unique constraint says so).

use schemas::ucp::Checkout;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// An order a turn placed.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: String,
    pub checkout_id: Uuid,
    pub principal: String,
    /// The completed checkout.
    pub checkout: Checkout,
}

/// Records the orders of completed checkouts (one statement for a batch of turns).
pub async fn insert(conn: &mut PgConnection, orders: &[NewOrder]) -> Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO orders (id, checkout_id, principal, total_minor, currency, body)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[])",
    )
    .bind(orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.checkout_id).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.principal.as_str()).collect::<Vec<_>>())
    .bind(
        orders
            .iter()
            .map(|o| o.checkout.total("total").unwrap_or(0))
            .collect::<Vec<_>>(),
    )
    .bind(orders.iter().map(|o| o.checkout.currency.as_str()).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| Json(&o.checkout)).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
