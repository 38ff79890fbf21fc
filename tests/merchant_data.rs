//! Merchant data sets (`store::merchant_data`): the sample store (`seed/`) and the flower shop
//! (`../shared/flower-shop`, CSV) load with their counts; loading the same set again changes
//! nothing, so stock orders took survives a redeploy; a changed set replaces the merchant's data;
//! a malformed one fails naming file and line and changes nothing. Then what the checkout engine
//! reads: stock reserved all-or-nothing, the last unit to exactly one of eight concurrent
//! transactions, saved addresses deduplicated and customers created on first use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use store::customers::Address;
use store::merchant_data::{self, Loaded};
use store::{inventory, PgPool};
use testkit::db::TestDb;
use tokio::sync::Barrier;

const PUBLIC_URL: &str = "http://localhost";

fn flower_shop() -> PathBuf {
    testkit::repo_root().join("../shared/flower-shop")
}

/// A copy of a data set in a temporary folder, to edit; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn of(dir: &Path) -> Scratch {
        let copy = std::env::temp_dir().join(format!("cw-merchant-data-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&copy).expect("temporary folder");
        for entry in std::fs::read_dir(dir).expect("the data set") {
            let path = entry.expect("an entry").path();
            std::fs::copy(&path, copy.join(path.file_name().expect("a name"))).expect("copy a file");
        }
        Scratch(copy)
    }

    /// Replaces `from` by `to` in `file`, which must contain it.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.0.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} has {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test database (with `seed/` loaded) then the flower shop.
async fn flower_shop_db() -> TestDb {
    let db = TestDb::create(PUBLIC_URL).await;
    let loaded = merchant_data::load(&db.pool, &flower_shop(), PUBLIC_URL).await.expect("flower shop loads");
    assert!(!loaded.skipped);
    db
}

async fn quantity(pool: &PgPool, product_id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT quantity FROM inventory WHERE product_id = $1")
        .bind(product_id)
        .fetch_optional(pool)
        .await
        .expect("read stock")
}

async fn price(pool: &PgPool, product_id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT price_minor FROM products WHERE id = $1")
        .bind(product_id)
        .fetch_optional(pool)
        .await
        .expect("read price")
}

/// Reserves in a transaction of its own, committed.
async fn reserve(pool: &PgPool, wanted: &[(&str, i64)]) -> Result<(), String> {
    let wanted: Vec<(String, i64)> = wanted.iter().map(|(id, q)| (id.to_string(), *q)).collect();
    let mut tx = pool.begin().await.expect("begin");
    let reserved = inventory::reserve(&mut tx, &wanted).await.expect("reserve runs");
    tx.commit().await.expect("commit");
    reserved
}

fn address(street: &str, city: &str, state: &str, postal_code: &str) -> Address {
    Address {
        street_address: street.into(),
        extended_address: None,
        city: city.into(),
        state: state.into(),
        postal_code: postal_code.into(),
        country: "US".into(),
    }
}

#[tokio::test]
async fn both_data_sets_load_with_their_counts() {
    let db = TestDb::create(PUBLIC_URL).await;
    let seed = merchant_data::load(&db.pool, &testkit::db::seed_dir(), PUBLIC_URL).await.unwrap();
    assert_eq!(
        seed,
        Loaded {
            skipped: true,
            products: 6,
            shipping_rates: 2,
            tax_rates: 1,
            ..Loaded::default()
        },
        "the test database was created with seed/ loaded"
    );
    let rules = store::pricing::load(&db.pool).await.unwrap();
    let options: Vec<(&str, i64, &str)> = rules
        .shipping_rates_for("US")
        .into_iter()
        .map(|r| (r.id.as_str(), r.price, r.carrier.as_str()))
        .collect();
    assert_eq!(options, [("standard", 500, "USPS"), ("express", 1000, "FedEx")]);
    assert_eq!(rules.tax_basis_points_for(Some("US")), 1000);

    let flowers = merchant_data::load(&db.pool, &flower_shop(), PUBLIC_URL).await.unwrap();
    assert_eq!(
        flowers,
        Loaded {
            skipped: false,
            products: 6,
            inventory: 6,
            customers: 3,
            addresses: 3,
            discounts: 3,
            promotions: 2,
            shipping_rates: 3,
            tax_rates: 0,
        }
    );
    for (table, rows) in [
        ("products", 6),
        ("inventory", 6),
        ("customers", 3),
        ("customer_addresses", 3),
        ("discounts", 3),
        ("promotions", 2),
        ("shipping_rates", 3),
        ("tax_rates", 0),
    ] {
        assert_eq!(db.count(table).await, rows, "{table}: the flower shop's, none of the seed's");
    }

    let mut conn = db.pool.acquire().await.unwrap();
    let found = store::catalog::search(&mut conn, "roses").await.unwrap();
    assert_eq!(
        found,
        [json!({"@type": "Product", "productID": "bouquet_roses", "name": "Bouquet of Red Roses",
            "image": ["https://example.com/roses.jpg"],
            "offers": {"@type": "Offer", "price": "35.00", "priceCurrency": "USD"}})]
    );
    let rules = store::pricing::Cache::new(db.pool.clone()).get().await.unwrap();
    let us: Vec<&str> = rules.shipping_rates_for("US").into_iter().map(|r| r.id.as_str()).collect();
    assert_eq!(us, ["std-ship", "exp-ship-us"]);
    assert_eq!(rules.tax_basis_points_for(Some("US")), 0);
    assert_eq!(rules.discount("fixed500").map(|d| d.value), Some(500));
    let roses = rules.promotions.iter().find(|p| p.id == "promo_2").unwrap();
    assert_eq!((roses.min_subtotal, roses.eligible_item_ids.as_slice()), (None, &["bouquet_roses".to_owned()][..]));
}

#[tokio::test]
async fn the_same_set_again_is_skipped_and_keeps_reserved_stock() {
    let db = flower_shop_db().await;
    assert_eq!(reserve(&db.pool, &[("bouquet_roses", 3)]).await, Ok(()));
    assert_eq!(quantity(&db.pool, "bouquet_roses").await, Some(997));

    let again = merchant_data::load(&db.pool, &flower_shop(), PUBLIC_URL).await.unwrap();
    assert!(again.skipped, "{again:?}");
    assert_eq!(again.products, 6, "the counts are the set's");
    assert_eq!(quantity(&db.pool, "bouquet_roses").await, Some(997), "a redeploy keeps the stock orders took");

    // Another PUBLIC_URL changes the stored image URLs: not the same load.
    let elsewhere = merchant_data::load(&db.pool, &flower_shop(), "https://shop.example").await.unwrap();
    assert!(!elsewhere.skipped);
    assert_eq!(quantity(&db.pool, "bouquet_roses").await, Some(1000), "a new load sets the file's stock");
}

#[tokio::test]
async fn a_changed_set_replaces_the_merchants_data() {
    let db = flower_shop_db().await;
    let changed = Scratch::of(&flower_shop());
    changed.edit("products.csv", "bouquet_roses,Bouquet of Red Roses,3500", "bouquet_roses,Bouquet of Red Roses,3900");
    changed.edit("products.csv", "\ngardenias,Gardenias,2000,https://example.com/gardenias.jpg", "");
    changed.edit("inventory.csv", "\ngardenias,0", "");
    changed.edit("discounts.csv", "\nFIXED500,fixed_amount,500,$5.00 Off", "");
    changed.edit("customers.csv", "John Doe", "John Q. Doe");

    let loaded = merchant_data::load(&db.pool, &changed.0, PUBLIC_URL).await.unwrap();
    assert!(!loaded.skipped);
    assert_eq!((loaded.products, loaded.inventory, loaded.discounts), (5, 5, 2));
    assert_eq!(price(&db.pool, "bouquet_roses").await, Some(3900));
    assert_eq!(price(&db.pool, "gardenias").await, None, "a product the set lacks is deleted");
    assert_eq!(quantity(&db.pool, "gardenias").await, None, "with its stock");
    assert_eq!(db.count("discounts").await, 2);
    let name: String = sqlx::query_scalar("SELECT name FROM customers WHERE id = 'cust_1'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(name, "John Q. Doe");
}

#[tokio::test]
async fn a_malformed_set_fails_naming_file_and_line_and_changes_nothing() {
    let db = flower_shop_db().await;
    let digest = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT digest FROM merchant_data_loads")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    let before = digest().await;
    let broken = Scratch::of(&flower_shop());
    broken.edit("products.csv", "bouquet_roses,Bouquet of Red Roses,3500", "bouquet_roses,Bouquet of Red Roses,3900");
    broken.edit("discounts.csv", "WELCOME20,percentage,20", "WELCOME20,percentage,x");
    let error = merchant_data::load(&db.pool, &broken.0, PUBLIC_URL).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "merchant data is invalid: discounts.csv line 3: value \"x\" is not an integer"
    );
    assert_eq!(price(&db.pool, "bouquet_roses").await, Some(3500));
    assert_eq!(digest().await, before);

    // A failure inside the transaction (the email of a customer a checkout created) rolls the
    // whole load back.
    let mut conn = db.pool.acquire().await.unwrap();
    store::customers::save_address(&mut conn, "taken@example.com", None, &address("1 Elm St", "Springfield", "IL", "62704"))
        .await
        .unwrap();
    let taken = Scratch::of(&flower_shop());
    taken.edit("products.csv", "bouquet_roses,Bouquet of Red Roses,3500", "bouquet_roses,Bouquet of Red Roses,3900");
    taken.edit("customers.csv", "jane.doe@example.com", "TAKEN@example.com");
    let error = merchant_data::load(&db.pool, &taken.0, PUBLIC_URL).await.unwrap_err().to_string();
    assert!(error.contains("the email \"TAKEN@example.com\" of customer \"cust_3\" belongs to customer \"cust_"), "{error}");
    assert_eq!(price(&db.pool, "bouquet_roses").await, Some(3500));
    assert_eq!(digest().await, before);
}

#[tokio::test]
async fn reservations_are_all_or_nothing() {
    let db = flower_shop_db().await;
    assert_eq!(
        reserve(&db.pool, &[("bouquet_roses", 2), ("gardenias", 1), ("pot_ceramic", 1)]).await,
        Err("gardenias".to_owned()),
        "gardenias are out of stock"
    );
    assert_eq!(quantity(&db.pool, "bouquet_roses").await, Some(1000), "nothing was taken");
    assert_eq!(reserve(&db.pool, &[("orchid_white", 500), ("orchid_white", 301)]).await, Err("orchid_white".to_owned()));
    assert_eq!(reserve(&db.pool, &[("orchid_white", 500), ("orchid_white", 300)]).await, Ok(()));
    assert_eq!(quantity(&db.pool, "orchid_white").await, Some(0));

    sqlx::query("DELETE FROM inventory WHERE product_id = 'pot_ceramic'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(reserve(&db.pool, &[("pot_ceramic", 1_000_000)]).await, Ok(()), "no row: unlimited");
    let mut conn = db.pool.acquire().await.unwrap();
    let ids = ["pot_ceramic".to_owned(), "orchid_white".to_owned(), "tulips".to_owned()];
    let available = inventory::available(&mut conn, &ids).await.unwrap();
    assert_eq!(available.into_iter().collect::<Vec<_>>(), [("orchid_white".to_owned(), 0)]);
}

#[tokio::test]
async fn the_last_unit_goes_to_exactly_one_of_eight() {
    let db = flower_shop_db().await;
    sqlx::query("UPDATE inventory SET quantity = 1 WHERE product_id = 'bouquet_tulips'")
        .execute(&db.pool)
        .await
        .unwrap();
    let pool = store::connect(&db.url, 9).await.unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let attempts = (0..8).map(|_| {
        let (pool, barrier) = (pool.clone(), barrier.clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
            barrier.wait().await;
            let reserved = inventory::reserve(&mut tx, &[("bouquet_tulips".to_owned(), 1)]).await.unwrap();
            tx.commit().await.unwrap();
            reserved
        })
    });
    let results: Vec<Result<(), String>> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.as_ref().is_ok() || r == &Err("bouquet_tulips".to_owned())));
    assert_eq!(quantity(&db.pool, "bouquet_tulips").await, Some(0));
}

#[tokio::test]
async fn saved_addresses_are_deduplicated_and_customers_created() {
    let db = flower_shop_db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let ids = |addresses: Vec<store::customers::SavedAddress>| addresses.into_iter().map(|a| a.id).collect::<Vec<_>>();

    let saved = store::customers::saved_addresses(&mut conn, "John.Doe@Example.com").await.unwrap();
    assert_eq!(saved[0].street_address, "123 Main St");
    assert_eq!(ids(saved), ["addr_1", "addr_2"]);

    let same = address(" 456 OAK AVE ", "metropolis", "ny", "10012");
    let id = store::customers::save_address(&mut conn, "john.doe@example.com", None, &same).await.unwrap();
    assert_eq!(id, "addr_2", "the same address, differently written");

    let new = address("1 River Rd", "Springfield", "IL", "62704");
    let added = store::customers::save_address(&mut conn, "JOHN.DOE@example.com", None, &new).await.unwrap();
    assert!(added.starts_with("addr_") && added != "addr_1" && added != "addr_2", "{added}");
    let saved = ids(store::customers::saved_addresses(&mut conn, "john.doe@example.com").await.unwrap());
    assert_eq!(saved, ["addr_1".to_owned(), "addr_2".to_owned(), added], "the data set's first");
    assert_eq!(db.count("customers").await, 3);

    let first = store::customers::save_address(&mut conn, "new@example.com", Some("New Buyer"), &new).await.unwrap();
    let again = store::customers::save_address(&mut conn, "NEW@example.com", None, &new).await.unwrap();
    assert_eq!(first, again);
    let (id, name): (String, String) = sqlx::query_as("SELECT id, name FROM customers WHERE email = 'new@example.com'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(id.starts_with("cust_"), "{id}");
    assert_eq!(name, "New Buyer");
    assert_eq!(db.count("customers").await, 4);

    // Eight checkouts of a new buyer saving the same address at once: one customer, one address.
    let pool = store::connect(&db.url, 9).await.unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let saves = (0..8).map(|_| {
        let (pool, barrier) = (pool.clone(), barrier.clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
            barrier.wait().await;
            let home = address("9 Hill St", "Smallville", "KS", "66002");
            let id = store::customers::save_address(&mut tx, "rush@example.com", None, &home).await.unwrap();
            tx.commit().await.unwrap();
            id
        })
    });
    let ids: Vec<String> = futures::future::join_all(saves).await.into_iter().map(|j| j.unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(db.count("customers").await, 5);
    let copies: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM customer_addresses a JOIN customers c ON c.id = a.customer_id
         WHERE c.email = 'rush@example.com'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(copies, 1);
}
