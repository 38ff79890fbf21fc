//! The product catalog: loaded from a schema.org Product list (the seed in `seed/`), searched by
//! keyword over name and category with PostgreSQL full-text search.

use schemas::ucp::parse_price_minor;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::{Error, Result};

/// The most results one search returns.
pub const SEARCH_LIMIT: i64 = 20;
/// The most words of a query that are searched.
const MAX_QUERY_WORDS: usize = 16;

/// A product as a checkout line needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    pub image_url: Option<String>,
}

/// Loads (inserts or updates) the products of a schema.org Product JSON array. Image URLs whose
/// path starts with `/images/` are rewritten to `public_url`, where the ingress serves them.
/// Returns how many products were loaded.
pub async fn load_seed(pool: &PgPool, products_json: &str, public_url: &str) -> Result<usize> {
    let products: Vec<Value> = serde_json::from_str(products_json)?;
    let mut tx = pool.begin().await?;
    for mut product in products {
        let field = |name: &str| product.get(name).and_then(Value::as_str).map(str::to_owned);
        let id = field("productID").ok_or_else(|| Error::Seed("a product has no productID".into()))?;
        let name = field("name").ok_or_else(|| Error::Seed(format!("{id} has no name")))?;
        let category = field("category").unwrap_or_default();
        let offers = product.get("offers").cloned().unwrap_or(Value::Null);
        let price = offers
            .get("price")
            .and_then(Value::as_str)
            .and_then(parse_price_minor)
            .ok_or_else(|| Error::Seed(format!("{id} has no valid price")))?;
        let currency = offers.get("priceCurrency").and_then(Value::as_str).unwrap_or("USD").to_owned();
        if let Some(images) = product.get_mut("image").and_then(Value::as_array_mut) {
            for image in images.iter_mut() {
                if let Some(url) = image.as_str() {
                    *image = Value::String(rebase_image_url(url, public_url));
                }
            }
        }
        let image_url = product.get("image").and_then(|i| i.get(0)).and_then(Value::as_str).map(str::to_owned);
        sqlx::query(
            "INSERT INTO products (id, name, category, price_minor, currency, image_url, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET name = $2, category = $3, price_minor = $4,
                 currency = $5, image_url = $6, body = $7",
        )
        .bind(&id)
        .bind(&name)
        .bind(&category)
        .bind(price)
        .bind(&currency)
        .bind(&image_url)
        .bind(&product)
        .execute(&mut *tx)
        .await?;
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products").fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(count as usize)
}

fn rebase_image_url(url: &str, public_url: &str) -> String {
    let path = url.find("/images/").map(|i| &url[i..]);
    match path {
        Some(path) => format!("{}{path}", public_url.trim_end_matches('/')),
        None => url.to_owned(),
    }
}

/// The products whose name or category matches any word of `query` (prefixes count, English
/// stemming applies), best matches first.
pub async fn search(conn: &mut PgConnection, query: &str) -> Result<Vec<Value>> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_QUERY_WORDS)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let bodies = sqlx::query_scalar(
        "SELECT body FROM products, to_tsquery('english', $1) AS q
         WHERE search @@ q ORDER BY ts_rank(search, q) DESC, id LIMIT $2",
    )
    .bind(words.join(" | "))
    .bind(SEARCH_LIMIT)
    .fetch_all(conn)
    .await?;
    Ok(bodies)
}

/// One product by id.
pub async fn get(conn: &mut PgConnection, id: &str) -> Result<Option<Product>> {
    let row: Option<(String, String, i64, String, Option<String>)> =
        sqlx::query_as("SELECT id, name, price_minor, currency, image_url FROM products WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id, name, price_minor, currency, image_url)| Product { id, name, price_minor, currency, image_url }))
}

/// Every product id.
pub async fn ids(pool: &PgPool) -> Result<Vec<String>> {
    let ids = sqlx::query_scalar("SELECT id FROM products").fetch_all(pool).await?;
    Ok(ids)
}
