//! Writing a parsed data set over the merchant's data, one statement per table, in the loader's
//! transaction. The merchant's own tables (products, inventory, discounts, promotions, shipping
//! and tax rates) become exactly the set's: rows the set lacks are deleted, the others upserted.
//! Customers and addresses are upserted only: those checkouts saved are the buyers' data.

use serde_json::Value;
use sqlx::PgConnection;

use super::customers::{Customer, CustomerAddress};
use super::products::NewProduct;
use super::DataSet;
use crate::pricing::{Discount, Promotion, ShippingRate, TaxRate};
use crate::{Error, Result};

/// Makes the database hold `set`.
pub(super) async fn replace(conn: &mut PgConnection, set: &DataSet) -> Result<()> {
    products(conn, &set.products).await?;
    inventory(conn, &set.inventory).await?;
    refuse_taken_emails(conn, &set.customers).await?;
    customers(conn, &set.customers).await?;
    addresses(conn, &set.addresses).await?;
    discounts(conn, &set.discounts).await?;
    promotions(conn, &set.promotions).await?;
    shipping_rates(conn, &set.shipping_rates).await?;
    tax_rates(conn, &set.tax_rates).await
}

/// The products, replacing the catalog (a deleted product's stock goes with it).
async fn products(conn: &mut PgConnection, products: &[NewProduct]) -> Result<()> {
    let ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
    let names: Vec<&str> = products.iter().map(|p| p.name.as_str()).collect();
    let categories: Vec<&str> = products.iter().map(|p| p.category.as_str()).collect();
    let prices: Vec<i64> = products.iter().map(|p| p.price_minor).collect();
    let currencies: Vec<&str> = products.iter().map(|p| p.currency.as_str()).collect();
    let images: Vec<Option<&str>> = products.iter().map(|p| p.image_url.as_deref()).collect();
    let bodies: Vec<&Value> = products.iter().map(|p| &p.body).collect();
    sqlx::query(
        "WITH gone AS (DELETE FROM products WHERE id <> ALL($1))
         INSERT INTO products (id, name, category, price_minor, currency, image_url, body)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::jsonb[])
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, category = excluded.category,
             price_minor = excluded.price_minor, currency = excluded.currency,
             image_url = excluded.image_url, body = excluded.body",
    )
    .bind(&ids)
    .bind(&names)
    .bind(&categories)
    .bind(&prices)
    .bind(&currencies)
    .bind(&images)
    .bind(&bodies)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stock, set to the file's quantities; products it does not name become unlimited.
async fn inventory(conn: &mut PgConnection, stock: &[(String, i64)]) -> Result<()> {
    let ids: Vec<&str> = stock.iter().map(|(id, _)| id.as_str()).collect();
    let quantities: Vec<i64> = stock.iter().map(|(_, quantity)| *quantity).collect();
    sqlx::query(
        "WITH gone AS (DELETE FROM inventory WHERE product_id <> ALL($1))
         INSERT INTO inventory (product_id, quantity)
         SELECT * FROM unnest($1::text[], $2::int8[])
         ON CONFLICT (product_id) DO UPDATE SET quantity = excluded.quantity",
    )
    .bind(&ids)
    .bind(&quantities)
    .execute(conn)
    .await?;
    Ok(())
}

/// Fails, naming both, when a customer's email belongs to another customer in the database
/// (one a checkout created): emails are unique, and merging two customers is not the loader's
/// to decide.
async fn refuse_taken_emails(conn: &mut PgConnection, customers: &[Customer]) -> Result<()> {
    let ids: Vec<&str> = customers.iter().map(|c| c.id.as_str()).collect();
    let emails: Vec<&str> = customers.iter().map(|c| c.email.as_str()).collect();
    let taken: Option<(String, String, String)> = sqlx::query_as(
        "SELECT n.id, n.email, c.id FROM unnest($1::text[], $2::text[]) AS n (id, email)
         JOIN customers c ON lower(c.email) = lower(n.email) AND c.id <> ALL($1)
         ORDER BY n.id LIMIT 1",
    )
    .bind(&ids)
    .bind(&emails)
    .fetch_optional(conn)
    .await?;
    match taken {
        Some((id, email, holder)) => Err(Error::MerchantData(format!(
            "customers.csv: the email {email:?} of customer {id:?} belongs to customer {holder:?} in the database"
        ))),
        None => Ok(()),
    }
}

async fn customers(conn: &mut PgConnection, customers: &[Customer]) -> Result<()> {
    let ids: Vec<&str> = customers.iter().map(|c| c.id.as_str()).collect();
    let names: Vec<&str> = customers.iter().map(|c| c.name.as_str()).collect();
    let emails: Vec<&str> = customers.iter().map(|c| c.email.as_str()).collect();
    sqlx::query(
        "INSERT INTO customers (id, name, email)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email",
    )
    .bind(&ids)
    .bind(&names)
    .bind(&emails)
    .execute(conn)
    .await?;
    Ok(())
}

async fn addresses(conn: &mut PgConnection, addresses: &[CustomerAddress]) -> Result<()> {
    let column = |field: fn(&CustomerAddress) -> &str| addresses.iter().map(field).collect::<Vec<&str>>();
    let extended: Vec<Option<&str>> = addresses
        .iter()
        .map(|a| a.address.extended_address.as_deref())
        .collect();
    sqlx::query(
        "INSERT INTO customer_addresses
             (id, customer_id, street_address, extended_address, city, state, postal_code, country)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
         ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id,
             street_address = excluded.street_address, extended_address = excluded.extended_address,
             city = excluded.city, state = excluded.state, postal_code = excluded.postal_code,
             country = excluded.country",
    )
    .bind(column(|a| &a.id))
    .bind(column(|a| &a.customer_id))
    .bind(column(|a| &a.address.street_address))
    .bind(&extended)
    .bind(column(|a| &a.address.city))
    .bind(column(|a| &a.address.state))
    .bind(column(|a| &a.address.postal_code))
    .bind(column(|a| &a.address.country))
    .execute(conn)
    .await?;
    Ok(())
}

async fn discounts(conn: &mut PgConnection, discounts: &[Discount]) -> Result<()> {
    let codes: Vec<&str> = discounts.iter().map(|d| d.code.as_str()).collect();
    let kinds: Vec<&str> = discounts.iter().map(|d| d.kind.name()).collect();
    let values: Vec<i64> = discounts.iter().map(|d| d.value).collect();
    let descriptions: Vec<&str> = discounts.iter().map(|d| d.description.as_str()).collect();
    sqlx::query(
        "WITH gone AS (DELETE FROM discounts WHERE code <> ALL($1))
         INSERT INTO discounts (code, kind, value, description)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[])
         ON CONFLICT (code) DO UPDATE SET kind = excluded.kind, value = excluded.value,
             description = excluded.description",
    )
    .bind(&codes)
    .bind(&kinds)
    .bind(&values)
    .bind(&descriptions)
    .execute(conn)
    .await?;
    Ok(())
}

async fn promotions(conn: &mut PgConnection, promotions: &[Promotion]) -> Result<()> {
    let ids: Vec<&str> = promotions.iter().map(|p| p.id.as_str()).collect();
    let kinds: Vec<&str> = promotions.iter().map(|p| p.kind.name()).collect();
    let minimums: Vec<Option<i64>> = promotions.iter().map(|p| p.min_subtotal).collect();
    // Lists of different lengths do not make a two-dimensional array: each is a JSON array.
    let eligible: Vec<Value> = promotions
        .iter()
        .map(|p| Value::from(p.eligible_item_ids.clone()))
        .collect();
    let descriptions: Vec<&str> = promotions.iter().map(|p| p.description.as_str()).collect();
    sqlx::query(
        "WITH gone AS (DELETE FROM promotions WHERE id <> ALL($1))
         INSERT INTO promotions (id, kind, min_subtotal, eligible_item_ids, description)
         SELECT p.id, p.kind, p.min_subtotal, ARRAY(SELECT jsonb_array_elements_text(p.eligible)), p.description
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::jsonb[], $5::text[])
             AS p (id, kind, min_subtotal, eligible, description)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, min_subtotal = excluded.min_subtotal,
             eligible_item_ids = excluded.eligible_item_ids, description = excluded.description",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&minimums)
    .bind(&eligible)
    .bind(&descriptions)
    .execute(conn)
    .await?;
    Ok(())
}

async fn shipping_rates(conn: &mut PgConnection, rates: &[ShippingRate]) -> Result<()> {
    let column = |field: fn(&ShippingRate) -> &str| rates.iter().map(field).collect::<Vec<&str>>();
    let prices: Vec<i64> = rates.iter().map(|r| r.price).collect();
    sqlx::query(
        "WITH gone AS (DELETE FROM shipping_rates WHERE id <> ALL($1))
         INSERT INTO shipping_rates (id, country_code, service_level, price, title, description, carrier)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::text[])
         ON CONFLICT (id) DO UPDATE SET country_code = excluded.country_code,
             service_level = excluded.service_level, price = excluded.price, title = excluded.title,
             description = excluded.description, carrier = excluded.carrier",
    )
    .bind(column(|r| &r.id))
    .bind(column(|r| &r.country_code))
    .bind(column(|r| &r.service_level))
    .bind(&prices)
    .bind(column(|r| &r.title))
    .bind(column(|r| &r.description))
    .bind(column(|r| &r.carrier))
    .execute(conn)
    .await?;
    Ok(())
}

async fn tax_rates(conn: &mut PgConnection, rates: &[TaxRate]) -> Result<()> {
    let countries: Vec<&str> = rates.iter().map(|r| r.country_code.as_str()).collect();
    let points: Vec<i64> = rates.iter().map(|r| r.rate_basis_points).collect();
    sqlx::query(
        "WITH gone AS (DELETE FROM tax_rates WHERE country_code <> ALL($1))
         INSERT INTO tax_rates (country_code, rate_basis_points)
         SELECT country_code, points::int4 FROM unnest($1::text[], $2::int8[]) AS t (country_code, points)
         ON CONFLICT (country_code) DO UPDATE SET rate_basis_points = excluded.rate_basis_points",
    )
    .bind(&countries)
    .bind(&points)
    .execute(conn)
    .await?;
    Ok(())
}
