//! The product catalog: loaded from the merchant data set ([`crate::merchant_data`]), searched
//! by keyword over name and category with PostgreSQL full-text search, cached in memory for
//! lookups by id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio::sync::RwLock;

use crate::Result;

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
    /// The merchant counts its stock (it has an `inventory` row); otherwise stock is unlimited.
    pub stocked: bool,
}

/// The products whose name or category matches any word of `query` (prefixes count, English
/// stemming applies), best matches first.
pub async fn search(conn: &mut PgConnection, query: &str) -> Result<Vec<Value>> {
    let Some(tsquery) = tsquery(query) else {
        return Ok(Vec::new());
    };
    let bodies = sqlx::query_scalar(
        "SELECT body FROM products, to_tsquery('english', $1) AS q
         WHERE search @@ q ORDER BY ts_rank(search, q) DESC, id LIMIT $2",
    )
    .bind(tsquery)
    .bind(SEARCH_LIMIT)
    .fetch_all(conn)
    .await?;
    Ok(bodies)
}

/// [`search`] for many queries in one statement; the results in the order of `queries`.
pub async fn search_many(pool: &PgPool, queries: &[String]) -> Result<Vec<Vec<Value>>> {
    let tsqueries: Vec<Option<String>> = queries.iter().map(|q| tsquery(q)).collect();
    let rows: Vec<(i64, Value)> = sqlx::query_as(
        "SELECT q.ord, p.body
         FROM unnest($1::text[]) WITH ORDINALITY AS q (tsq, ord)
         CROSS JOIN LATERAL (
             SELECT body FROM products, to_tsquery('english', q.tsq) AS t
             WHERE search @@ t ORDER BY ts_rank(search, t) DESC, id LIMIT $2
         ) p
         WHERE q.tsq IS NOT NULL
         ORDER BY q.ord",
    )
    .bind(&tsqueries)
    .bind(SEARCH_LIMIT)
    .fetch_all(pool)
    .await?;
    let mut results = vec![Vec::new(); queries.len()];
    for (ord, body) in rows {
        if let Some(found) = results.get_mut(ord as usize - 1) {
            found.push(body);
        }
    }
    Ok(results)
}

/// The tsquery for a query's words (each a prefix), `None` if it has none.
fn tsquery(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_QUERY_WORDS)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" | "))
}

/// Every product, as checkout lines need them.
async fn all(pool: &PgPool) -> Result<HashMap<String, Product>> {
    let rows: Vec<(String, String, i64, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT p.id, p.name, p.price_minor, p.currency, p.image_url, i.product_id IS NOT NULL
         FROM products p LEFT JOIN inventory i ON i.product_id = p.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, price_minor, currency, image_url, stocked)| {
            (
                id.clone(),
                Product {
                    id,
                    name,
                    price_minor,
                    currency,
                    image_url,
                    stocked,
                },
            )
        })
        .collect())
}

/// How long a loaded catalog is used before it is read again.
pub const CACHE_REFRESH_AFTER: Duration = Duration::from_secs(30);

/// The catalog in memory: validating a message's product (ingress) and pricing a line (worker)
/// must not cost a database round trip each. Reloaded when older than [`CACHE_REFRESH_AFTER`],
/// so catalog changes are seen within that time.
pub struct Cache {
    pool: PgPool,
    loaded: RwLock<Option<Loaded>>,
}

/// When the catalog was read, and the products by id.
type Loaded = (Instant, Arc<HashMap<String, Product>>);

impl Cache {
    pub fn new(pool: PgPool) -> Cache {
        Cache {
            pool,
            loaded: RwLock::new(None),
        }
    }

    /// The product with this id, if the catalog has it.
    pub async fn get(&self, id: &str) -> Result<Option<Product>> {
        if let Some((at, products)) = &*self.loaded.read().await {
            if at.elapsed() < CACHE_REFRESH_AFTER {
                return Ok(products.get(id).cloned());
            }
        }
        let mut loaded = self.loaded.write().await;
        if let Some((at, products)) = &*loaded {
            if at.elapsed() < CACHE_REFRESH_AFTER {
                return Ok(products.get(id).cloned());
            }
        }
        let products = Arc::new(all(&self.pool).await?);
        *loaded = Some((Instant::now(), products.clone()));
        Ok(products.get(id).cloned())
    }
}
