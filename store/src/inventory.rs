//! Stock per product, as the merchant data set set it and completed orders took from it. A
//! product without a row has unlimited stock. Both functions run in the caller's transaction.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::Result;

/// The stock of those of `product_ids` that have a row (the others are unlimited).
pub async fn available(conn: &mut PgConnection, product_ids: &[String]) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT product_id, quantity FROM inventory WHERE product_id = ANY($1)")
            .bind(product_ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Takes `wanted` (product id, quantity; the quantities of a product named twice add up) out of
/// stock, all lines or none. `Ok(Err(product_id))` names the first line, in `wanted`'s order,
/// whose product has less stock than wanted; then nothing has changed, so the caller need not
/// roll back. Products without a row always have enough. Quantities below 1 take nothing.
///
/// Two statements: the rows are locked (`FOR UPDATE`, in product-id order, so two reservations
/// of the same products never deadlock) and checked, then decremented. The locks are held until
/// the caller's transaction ends: of two transactions reserving the last unit, the second waits
/// for the first and then sees the stock it left.
pub async fn reserve(conn: &mut PgConnection, wanted: &[(String, i64)]) -> Result<Result<(), String>> {
    let mut totals: Vec<(&str, i64)> = Vec::new();
    for (product_id, quantity) in wanted {
        match totals.iter_mut().find(|(id, _)| id == product_id) {
            Some((_, total)) => *total += (*quantity).max(0),
            None => totals.push((product_id, (*quantity).max(0))),
        }
    }
    totals.retain(|(_, quantity)| *quantity > 0);
    if totals.is_empty() {
        return Ok(Ok(()));
    }
    let ids: Vec<&str> = totals.iter().map(|(id, _)| *id).collect();
    let stock: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT product_id, quantity FROM inventory WHERE product_id = ANY($1)
         ORDER BY product_id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    if let Some((short, _)) = totals
        .iter()
        .find(|(id, quantity)| stock.get(*id).is_some_and(|left| left < quantity))
    {
        return Ok(Err((*short).to_owned()));
    }
    let quantities: Vec<i64> = totals.iter().map(|(_, quantity)| *quantity).collect();
    sqlx::query(
        "UPDATE inventory i SET quantity = i.quantity - w.quantity
         FROM unnest($1::text[], $2::int8[]) AS w (product_id, quantity)
         WHERE i.product_id = w.product_id",
    )
    .bind(&ids)
    .bind(&quantities)
    .execute(conn)
    .await?;
    Ok(Ok(()))
}
