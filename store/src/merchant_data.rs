//! Loading a merchant data set: merchant data is data, not code. A data set is a folder
//! (`seed/`, the sample store, is one) that `cartwright-ingress migrate --merchant-data <folder>`
//! loads; the checkout engine reads what it loaded through [`crate::catalog`],
//! [`crate::inventory`], [`crate::customers`] and [`crate::pricing`].
//!
//! # The folder
//! Money is integer minor units (cents) everywhere but `products.json`. CSV files have a header
//! row naming their columns, in any order; columns not named here and files not named here are
//! ignored. Optional columns may be left out or left empty.
//! - `products.json` or `products.csv` (one of them, required):
//!   - `products.json`: a schema.org Product list; `productID`, `name`, `offers.price` (a decimal
//!     string in major units, `"4.99"`) required, `category` and `offers.priceCurrency` (default
//!     USD) read, the whole object returned by search. Image URLs with `/images/` in them are
//!     rewritten to `PUBLIC_URL`, where the ingress serves `IMAGES_DIR`.
//!   - `products.csv`: `id`, `title`, `price` (minor units), `image_url` (may be empty; a path
//!     starting `/images/` is served by the ingress); optional `description`, `category`,
//!     `currency` (default USD). Search returns the schema.org Product built from them.
//! - `inventory.csv`: `product_id`, `quantity` (0 or more). A product without a row has
//!   unlimited stock.
//! - `customers.csv`: `id`, `name` (may be empty), `email` (unique, case-insensitively).
//! - `addresses.csv`: `id`, `customer_id` (a customer of `customers.csv`), `street_address`,
//!   `city`, `state`, `postal_code`, `country`; optional `extended_address`.
//! - `discounts.csv`: `code` (unique, case-insensitively), `type`, `value`, `description`:
//!   `percentage` (`value` a percent, 0 to 100) or `fixed_amount` (`value` in minor units).
//! - `promotions.csv`: `id`, `type` (`free_shipping`), `min_subtotal` (may be empty),
//!   `eligible_item_ids` (empty: any product; else a JSON array of product ids, CSV-quoted:
//!   `"[""bouquet_roses""]"`), `description`.
//! - `shipping_rates.csv`: `id`, `country_code` (ISO 3166-1 alpha-2, or `default` for countries
//!   without a rate of that service level), `service_level`, `price`, `title`; optional
//!   `description`, `carrier`.
//! - `tax_rates.csv`: `country_code` (ISO 3166-1 alpha-2 or `default`), `rate_percent` (`10`,
//!   `8.25`), stored as basis points. No row for a country and no `default`: no tax.
//!
//! A bad value, an unknown `type`, a negative price or quantity, an id given twice, an address
//! of an unknown customer or stock of an unknown product fails the load with the file, line and
//! field (`discounts.csv line 3: value "x" is not an integer`), and changes nothing.
//!
//! # Loading
//! One transaction. The set's digest (SHA-256 over the names and bytes of the files read, in a
//! fixed order, and `PUBLIC_URL`, which the stored image URLs depend on) is compared with the
//! digest of the set loaded last: the same set changes nothing, so running `migrate` at every
//! deploy never resets stock that orders took. Another set replaces the merchant's data: the
//! products, stock, discounts, promotions, shipping and tax rates become exactly the set's
//! (stock set to the file's quantities); customers and addresses are added or updated, never
//! deleted, because those checkouts saved belong to the buyers.

mod apply;
mod csv_file;
mod customers;
mod products;
mod rules;

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::Path;

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::pricing::{Discount, Promotion, ShippingRate, TaxRate};
use crate::{Error, Result};
use customers::{Customer, CustomerAddress};
use products::NewProduct;

/// The files a data set may have, in the order the digest reads them.
const FILES: [&str; 9] = [
    "products.json",
    "products.csv",
    "inventory.csv",
    "customers.csv",
    "addresses.csv",
    "discounts.csv",
    "promotions.csv",
    "shipping_rates.csv",
    "tax_rates.csv",
];

/// What a load did: how many rows of each kind the data set has, and whether it was skipped
/// because the database already holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    pub skipped: bool,
    pub products: usize,
    pub inventory: usize,
    pub customers: usize,
    pub addresses: usize,
    pub discounts: usize,
    pub promotions: usize,
    pub shipping_rates: usize,
    pub tax_rates: usize,
}

/// Loads the data set in `dir` (see the module documentation), unless it is the one loaded
/// last. `public_url` is where the ingress serves product images.
pub async fn load(pool: &PgPool, dir: &Path, public_url: &str) -> Result<Loaded> {
    let files = Files::read(dir).await?;
    let set = DataSet::parse(&files, dir, public_url)?;
    let digest = files.digest(public_url);
    let mut tx = pool.begin().await?;
    // One load at a time: a second waits, then finds the first's digest.
    sqlx::query("LOCK TABLE merchant_data_loads IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let last: Option<Vec<u8>> = sqlx::query_scalar("SELECT digest FROM merchant_data_loads")
        .fetch_optional(&mut *tx)
        .await?;
    let skipped = last.as_deref() == Some(digest.as_slice());
    if !skipped {
        apply::replace(&mut tx, &set).await?;
        sqlx::query(
            "INSERT INTO merchant_data_loads (digest) VALUES ($1)
             ON CONFLICT (singleton) DO UPDATE SET digest = excluded.digest, loaded_at = now()",
        )
        .bind(&digest)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(set.counts(skipped))
}

/// The files of [`FILES`] the folder has, with their bytes, in that order.
struct Files(Vec<(&'static str, Vec<u8>)>);

impl Files {
    async fn read(dir: &Path) -> Result<Files> {
        let folder = tokio::fs::metadata(dir)
            .await
            .map_err(|e| Error::MerchantData(format!("{}: {e}", dir.display())))?;
        if !folder.is_dir() {
            return Err(Error::MerchantData(format!("{} is not a folder", dir.display())));
        }
        let mut files = Vec::new();
        for name in FILES {
            let path = dir.join(name);
            match tokio::fs::read(&path).await {
                Ok(bytes) => files.push((name, bytes)),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::MerchantData(format!("{}: {e}", path.display()))),
            }
        }
        Ok(Files(files))
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(_, bytes)| bytes.as_slice())
    }

    /// SHA-256 over each file's name and bytes (each length-prefixed), then `public_url`.
    fn digest(&self, public_url: &str) -> Vec<u8> {
        let mut hash = Sha256::new();
        let mut add = |part: &[u8]| {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        };
        for (name, bytes) in &self.0 {
            add(name.as_bytes());
            add(bytes);
        }
        add(public_url.as_bytes());
        hash.finalize().to_vec()
    }
}

/// A data set, parsed and checked.
struct DataSet {
    products: Vec<NewProduct>,
    inventory: Vec<(String, i64)>,
    customers: Vec<Customer>,
    addresses: Vec<CustomerAddress>,
    discounts: Vec<Discount>,
    promotions: Vec<Promotion>,
    shipping_rates: Vec<ShippingRate>,
    tax_rates: Vec<TaxRate>,
}

impl DataSet {
    fn parse(files: &Files, dir: &Path, public_url: &str) -> Result<DataSet> {
        let products = match (files.get("products.json"), files.get("products.csv")) {
            (Some(json), None) => products::from_json(json, public_url)?,
            (None, Some(csv)) => products::from_csv(csv, public_url)?,
            (Some(_), Some(_)) => {
                return Err(Error::MerchantData(format!(
                    "{} has both products.json and products.csv: keep one",
                    dir.display()
                )))
            }
            (None, None) => {
                return Err(Error::MerchantData(format!(
                    "{} has neither products.json nor products.csv",
                    dir.display()
                )))
            }
        };
        let product_ids: HashSet<&str> = products.iter().map(|p| p.id.as_str()).collect();
        let inventory = optional(files, "inventory.csv", |bytes| products::inventory(bytes, &product_ids))?;
        let promotions = optional(files, "promotions.csv", |bytes| rules::promotions(bytes, &product_ids))?;
        let customers = optional(files, "customers.csv", customers::customers)?;
        let customer_ids: HashSet<&str> = customers.iter().map(|c| c.id.as_str()).collect();
        let addresses = optional(files, "addresses.csv", |bytes| {
            customers::addresses(bytes, &customer_ids)
        })?;
        Ok(DataSet {
            inventory,
            promotions,
            addresses,
            customers,
            discounts: optional(files, "discounts.csv", rules::discounts)?,
            shipping_rates: optional(files, "shipping_rates.csv", rules::shipping_rates)?,
            tax_rates: optional(files, "tax_rates.csv", rules::tax_rates)?,
            products,
        })
    }

    fn counts(&self, skipped: bool) -> Loaded {
        Loaded {
            skipped,
            products: self.products.len(),
            inventory: self.inventory.len(),
            customers: self.customers.len(),
            addresses: self.addresses.len(),
            discounts: self.discounts.len(),
            promotions: self.promotions.len(),
            shipping_rates: self.shipping_rates.len(),
            tax_rates: self.tax_rates.len(),
        }
    }
}

/// The rows `parse` reads from the file `name`, none if the folder lacks it.
fn optional<T>(files: &Files, name: &str, parse: impl FnOnce(&[u8]) -> Result<Vec<T>>) -> Result<Vec<T>> {
    files.get(name).map(parse).transpose().map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&'static str, &str)]) -> Files {
        Files(
            list.iter()
                .map(|(name, text)| (*name, text.as_bytes().to_vec()))
                .collect(),
        )
    }

    const PRODUCTS: (&str, &str) = ("products.csv", "id,title,price,image_url\na,A,100,\n");

    #[test]
    fn the_digest_changes_with_any_byte_name_or_public_url() {
        let one = files(&[PRODUCTS]);
        let digest = one.digest("http://a");
        assert_eq!(digest, files(&[PRODUCTS]).digest("http://a"));
        assert_ne!(digest, one.digest("http://b"));
        assert_ne!(
            digest,
            files(&[("products.csv", "id,title,price,image_url\na,A,101,\n")]).digest("http://a")
        );
        assert_ne!(digest, files(&[PRODUCTS, ("tax_rates.csv", "")]).digest("http://a"));
    }

    #[test]
    fn one_product_file_is_required() {
        let dir = Path::new("shop");
        let neither = DataSet::parse(&files(&[("tax_rates.csv", "country_code,rate_percent\n")]), dir, "");
        assert!(neither
            .err()
            .unwrap()
            .to_string()
            .ends_with("shop has neither products.json nor products.csv"));
        let both = DataSet::parse(&files(&[("products.json", "[]"), PRODUCTS]), dir, "");
        assert!(both
            .err()
            .unwrap()
            .to_string()
            .ends_with("shop has both products.json and products.csv: keep one"));
    }

    #[test]
    fn optional_files_count_their_rows() {
        let set = DataSet::parse(
            &files(&[
                PRODUCTS,
                ("inventory.csv", "product_id,quantity\na,2\n"),
                ("tax_rates.csv", "country_code,rate_percent\ndefault,10\n"),
            ]),
            Path::new("shop"),
            "",
        )
        .unwrap();
        let counts = set.counts(false);
        assert_eq!(
            (counts.products, counts.inventory, counts.tax_rates, counts.discounts),
            (1, 1, 1, 0)
        );
    }
}
