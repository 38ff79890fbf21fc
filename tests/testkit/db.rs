//! A fresh database per test on the server at `TEST_DATABASE_URL`, migrated and loaded with the
//! sample merchant data set (`seed/`), dropped when the test ends.

use std::path::PathBuf;

use sqlx::{Connection, PgConnection, PgPool};

/// The merchant data set every test database holds: the repository's `seed/`.
pub fn seed_dir() -> PathBuf {
    crate::repo_root().join("seed")
}

pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
    pub pool: PgPool,
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{server}/{name}{query}")
}

impl TestDb {
    /// A database on the server at `TEST_DATABASE_URL`.
    pub async fn create(public_url: &str) -> TestDb {
        TestDb::create_on(&admin_url(), public_url).await
    }

    /// A database on the server at `admin_url`.
    pub async fn create_on(admin_url: &str, public_url: &str) -> TestDb {
        let admin_url = admin_url.to_owned();
        let name = format!("cw_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        let pool = store::connect(&url, 4).await.expect("connect to test database");
        store::migrate(&pool).await.expect("migrate test database");
        store::merchant_data::load(&pool, &seed_dir(), public_url)
            .await
            .expect("load the seed data set");
        TestDb {
            name,
            url,
            admin_url,
            pool,
        }
    }

    /// How many rows a table holds.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .expect("count rows")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which this blocks: a thread with its own runtime
        // does the async work, on a connection of its own (the pool's belong to the blocked
        // runtime). FORCE ends the pool's connections.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}
