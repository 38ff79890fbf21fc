//! The catalog's product ids, cached: validating a message's product must not cost a database
//! round trip per request. Reloaded when older than [`REFRESH_AFTER`], so catalog changes are
//! seen within that time.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::RwLock;

/// How long a loaded id set is used.
pub const REFRESH_AFTER: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct KnownProducts {
    loaded: RwLock<Option<(Instant, Arc<HashSet<String>>)>>,
}

impl KnownProducts {
    /// Whether the catalog has a product with this id.
    pub async fn contains(&self, db: &PgPool, id: &str) -> Result<bool, store::Error> {
        if let Some((at, ids)) = &*self.loaded.read().await {
            if at.elapsed() < REFRESH_AFTER {
                return Ok(ids.contains(id));
            }
        }
        let mut loaded = self.loaded.write().await;
        if let Some((at, ids)) = &*loaded {
            if at.elapsed() < REFRESH_AFTER {
                return Ok(ids.contains(id));
            }
        }
        let ids: Arc<HashSet<String>> = Arc::new(store::catalog::ids(db).await?.into_iter().collect());
        *loaded = Some((Instant::now(), ids.clone()));
        Ok(ids.contains(id))
    }
}
