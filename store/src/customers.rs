//! Buyers, known by email (compared case-insensitively), and their saved shipping addresses:
//! those of the merchant data set, and those checkouts saved. Both functions run in the caller's
//! transaction.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// A shipping address's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street_address: String,
    pub extended_address: Option<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
}

/// An address a customer has on file.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SavedAddress {
    pub id: String,
    pub street_address: String,
    pub extended_address: Option<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
}

/// The addresses of the customer with this email, the data set's first (they were loaded
/// before any checkout saved one), then in the order they were saved; by id among equals.
pub async fn saved_addresses(conn: &mut PgConnection, email: &str) -> Result<Vec<SavedAddress>> {
    let addresses = sqlx::query_as(
        "SELECT a.id, a.street_address, a.extended_address, a.city, a.state, a.postal_code, a.country
         FROM customer_addresses a JOIN customers c ON c.id = a.customer_id
         WHERE lower(c.email) = lower($1)
         ORDER BY a.created_at, a.id",
    )
    .bind(email.trim())
    .fetch_all(conn)
    .await?;
    Ok(addresses)
}

/// Saves `address` for the customer with this email and returns its id: the id of an address
/// of theirs with the same street, city, state, postal code and country (compared trimmed and
/// case-insensitively), else of a new one (`addr_` and a short random id). An unknown email
/// becomes a new customer (`cust_` and a short random id) named `name`; a known customer
/// without a name gets it.
///
/// Two statements, safe under concurrency: the customer is upserted on its email's unique index,
/// which locks its row until the caller's transaction ends, so a concurrent save for the same
/// email waits and then finds this address instead of adding a second copy.
pub async fn save_address(
    conn: &mut PgConnection,
    email: &str,
    name: Option<&str>,
    address: &Address,
) -> Result<String> {
    let customer_id: String = sqlx::query_scalar(
        "INSERT INTO customers (id, name, email) VALUES ($1, coalesce($2, ''), $3)
         ON CONFLICT ((lower(email))) DO UPDATE
             SET name = CASE WHEN customers.name = '' THEN excluded.name ELSE customers.name END
         RETURNING id",
    )
    .bind(short_id("cust_"))
    .bind(name.map(str::trim))
    .bind(email.trim())
    .fetch_one(&mut *conn)
    .await?;
    let address_id = sqlx::query_scalar(
        "WITH existing AS (
             SELECT id FROM customer_addresses
             WHERE customer_id = $1
               AND lower(trim(street_address)) = lower(trim($3))
               AND lower(trim(city)) = lower(trim($5))
               AND lower(trim(state)) = lower(trim($6))
               AND lower(trim(postal_code)) = lower(trim($7))
               AND lower(trim(country)) = lower(trim($8))
             ORDER BY created_at, id LIMIT 1
         ), inserted AS (
             INSERT INTO customer_addresses
                 (id, customer_id, street_address, extended_address, city, state, postal_code, country)
             SELECT $2, $1, trim($3), nullif(trim($4), ''), trim($5), trim($6), trim($7), trim($8)
             WHERE NOT EXISTS (SELECT 1 FROM existing)
             RETURNING id
         )
         SELECT id FROM existing UNION ALL SELECT id FROM inserted",
    )
    .bind(&customer_id)
    .bind(short_id("addr_"))
    .bind(&address.street_address)
    .bind(&address.extended_address)
    .bind(&address.city)
    .bind(&address.state)
    .bind(&address.postal_code)
    .bind(&address.country)
    .fetch_one(conn)
    .await?;
    Ok(address_id)
}

/// `prefix` and 12 random hex digits.
fn short_id(prefix: &str) -> String {
    let random = Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &random[..12])
}
