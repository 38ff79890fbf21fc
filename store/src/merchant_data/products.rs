//! The catalog side of a data set: `products.json` (a schema.org Product list) or `products.csv`,
//! and `inventory.csv`. Both product files give the same stored shape: the columns checkout lines
//! need, and a schema.org Product `body` that search returns.

use std::collections::HashSet;

use schemas::ucp::parse_price_minor;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::csv_file::{rows, Line, Unique};
use crate::{Error, Result};

/// The currency of a product that names none.
const DEFAULT_CURRENCY: &str = "USD";
/// The path under which the ingress serves product images (`IMAGES_DIR`).
const IMAGES_PATH: &str = "/images/";

/// A product as the `products` table holds it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct NewProduct {
    pub id: String,
    pub name: String,
    pub category: String,
    pub price_minor: i64,
    pub currency: String,
    pub image_url: Option<String>,
    pub body: Value,
}

/// The products of `products.json`, a schema.org Product list: `productID`, `name` and
/// `offers.price` (a decimal string in major units) are required, `category` and
/// `offers.priceCurrency` (default USD) read, and the whole object kept as the body. Image URLs
/// with `/images/` in them are rewritten to `public_url`, where the ingress serves them.
pub(super) fn from_json(bytes: &[u8], public_url: &str) -> Result<Vec<NewProduct>> {
    const FILE: &str = "products.json";
    let list: Vec<Value> = serde_json::from_slice(bytes).map_err(|e| Error::MerchantData(format!("{FILE}: {e}")))?;
    let mut ids = HashSet::new();
    let mut products = Vec::with_capacity(list.len());
    for (index, mut product) in list.into_iter().enumerate() {
        let fail = |what: String| Error::MerchantData(format!("{FILE} product {}: {what}", index + 1));
        let field = |name: &str| product.get(name).and_then(Value::as_str).map(str::to_owned);
        let id = field("productID").ok_or_else(|| fail("no productID".into()))?;
        let name = field("name").ok_or_else(|| fail(format!("{id} has no name")))?;
        let category = field("category").unwrap_or_default();
        let offers = product.get("offers").cloned().unwrap_or(Value::Null);
        let price_minor = offers
            .get("price")
            .and_then(Value::as_str)
            .and_then(parse_price_minor)
            .ok_or_else(|| fail(format!("{id} has no valid offers.price")))?;
        let currency = offers
            .get("priceCurrency")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_CURRENCY)
            .to_owned();
        if !ids.insert(id.clone()) {
            return Err(fail(format!("productID {id:?} repeats an earlier product")));
        }
        if let Some(images) = product.get_mut("image").and_then(Value::as_array_mut) {
            for image in images.iter_mut() {
                if let Some(url) = image.as_str() {
                    *image = Value::String(rebase_image_url(url, public_url));
                }
            }
        }
        let image_url = product
            .get("image")
            .and_then(|i| i.get(0))
            .and_then(Value::as_str)
            .map(str::to_owned);
        products.push(NewProduct {
            id,
            name,
            category,
            price_minor,
            currency,
            image_url,
            body: product,
        });
    }
    Ok(products)
}

/// `url` with everything before its `/images/` replaced by `public_url`; unchanged without one.
fn rebase_image_url(url: &str, public_url: &str) -> String {
    match url.find(IMAGES_PATH) {
        Some(at) => format!("{}{}", public_url.trim_end_matches('/'), &url[at..]),
        None => url.to_owned(),
    }
}

#[derive(Deserialize)]
struct ProductRow {
    id: String,
    title: String,
    price: String,
    image_url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    currency: String,
}

/// The products of `products.csv`: `id`, `title`, `price` (minor units), `image_url` (may be
/// empty; a path starting `/images/` is served by the ingress, at `public_url`), and optionally
/// `description`, `category`, `currency` (default USD). The body is the schema.org Product
/// `products.json` would hold.
pub(super) fn from_csv(bytes: &[u8], public_url: &str) -> Result<Vec<NewProduct>> {
    let mut ids = Unique::new("id");
    let mut products = Vec::new();
    for (line, row) in rows::<ProductRow>("products.csv", bytes, &["id", "title", "price", "image_url"])? {
        let id = line.required("id", row.id)?;
        ids.check(line, &id)?;
        let name = line.required("title", row.title)?;
        let price_minor = line.count("price", &row.price)?;
        let currency = currency(line, row.currency)?;
        let image_url = match row.image_url.as_str() {
            "" => None,
            url if url.starts_with(IMAGES_PATH) => Some(rebase_image_url(url, public_url)),
            url => Some(url.to_owned()),
        };
        let mut body = Map::new();
        body.insert("@type".into(), json!("Product"));
        body.insert("productID".into(), json!(id));
        body.insert("name".into(), json!(name));
        if let Some(url) = &image_url {
            body.insert("image".into(), json!([url]));
        }
        body.insert(
            "offers".into(),
            json!({"@type": "Offer", "price": major_units(price_minor), "priceCurrency": currency}),
        );
        if !row.category.is_empty() {
            body.insert("category".into(), json!(row.category));
        }
        if !row.description.is_empty() {
            body.insert("description".into(), json!(row.description));
        }
        products.push(NewProduct {
            id,
            name,
            category: row.category,
            price_minor,
            currency,
            image_url,
            body: Value::Object(body),
        });
    }
    Ok(products)
}

/// An ISO 4217 code (upper case), USD when empty.
fn currency(line: Line, value: String) -> Result<String> {
    if value.is_empty() {
        return Ok(DEFAULT_CURRENCY.to_owned());
    }
    if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(line.error(format_args!("currency {value:?} is not an ISO 4217 code")));
    }
    Ok(value.to_ascii_uppercase())
}

/// Minor units as the decimal string schema.org offers carry: 3500 is `"35.00"`.
fn major_units(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

#[derive(Deserialize)]
struct InventoryRow {
    product_id: String,
    quantity: String,
}

/// The stock of `inventory.csv`: `product_id` (a product of the data set), `quantity` (0 or
/// more).
pub(super) fn inventory(bytes: &[u8], products: &HashSet<&str>) -> Result<Vec<(String, i64)>> {
    let mut ids = Unique::new("product_id");
    let mut stock = Vec::new();
    for (line, row) in rows::<InventoryRow>("inventory.csv", bytes, &["product_id", "quantity"])? {
        let product_id = line.required("product_id", row.product_id)?;
        if !products.contains(product_id.as_str()) {
            return Err(line.error(format_args!(
                "product_id {product_id:?} is not a product of the data set"
            )));
        }
        ids.check(line, &product_id)?;
        stock.push((product_id, line.count("quantity", &row.quantity)?));
    }
    Ok(stock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(result: Result<impl std::fmt::Debug>) -> String {
        result.expect_err("an error").to_string()
    }

    #[test]
    fn a_csv_product_gets_the_body_a_json_product_has() {
        let csv = b"id,title,price,image_url,category\nbouquet_roses,Bouquet of Red Roses,3500,https://example.com/roses.jpg,Flowers\n";
        let products = from_csv(csv, "http://shop").unwrap();
        assert_eq!(
            products,
            [NewProduct {
                id: "bouquet_roses".into(),
                name: "Bouquet of Red Roses".into(),
                category: "Flowers".into(),
                price_minor: 3500,
                currency: "USD".into(),
                image_url: Some("https://example.com/roses.jpg".into()),
                body: json!({"@type": "Product", "productID": "bouquet_roses", "name": "Bouquet of Red Roses",
                    "image": ["https://example.com/roses.jpg"], "category": "Flowers",
                    "offers": {"@type": "Offer", "price": "35.00", "priceCurrency": "USD"}}),
            }]
        );
    }

    #[test]
    fn image_paths_are_served_by_the_ingress() {
        let csv = b"id,title,price,image_url,currency\na,A,5,/images/a.jpg,eur\nb,B,7,,\n";
        let products = from_csv(csv, "http://shop/").unwrap();
        assert_eq!(products[0].image_url.as_deref(), Some("http://shop/images/a.jpg"));
        assert_eq!(
            products[0].body["offers"],
            json!({"@type": "Offer", "price": "0.05", "priceCurrency": "EUR"})
        );
        assert_eq!(products[1].image_url, None);
        assert!(products[1].body.get("image").is_none());
    }

    #[test]
    fn bad_csv_products_are_named_by_line_and_field() {
        let header = "id,title,price,image_url\n";
        let cases = [
            ("a,A,-1,\n", "products.csv line 2: price \"-1\" is negative"),
            ("a,A,1.50,\n", "products.csv line 2: price \"1.50\" is not an integer"),
            ("a,,1,\n", "products.csv line 2: title is empty"),
            ("a,A,1,\na,B,2,\n", "products.csv line 3: id \"a\" repeats line 2"),
        ];
        for (rows, expected) in cases {
            let message = error(from_csv(format!("{header}{rows}").as_bytes(), ""));
            assert!(message.ends_with(expected), "{message}");
        }
        assert!(
            error(from_csv(b"id,title,price,image_url,currency\na,A,1,,dollars\n", ""))
                .ends_with("products.csv line 2: currency \"dollars\" is not an ISO 4217 code")
        );
    }

    #[test]
    fn json_products_keep_todays_shape_with_images_rebased() {
        let json = br#"[{"@type": "Product", "productID": "BISC-001", "name": "Cookies", "category": "Snacks",
            "image": ["http://localhost:10999/images/cookies.jpg"], "offers": {"price": "4.99"}}]"#;
        let products = from_json(json, "https://shop.example").unwrap();
        assert_eq!(products[0].price_minor, 499);
        assert_eq!(products[0].currency, "USD");
        assert_eq!(
            products[0].image_url.as_deref(),
            Some("https://shop.example/images/cookies.jpg")
        );
        assert_eq!(
            products[0].body["image"],
            json!(["https://shop.example/images/cookies.jpg"])
        );
        assert_eq!(products[0].body["sku"], Value::Null);
    }

    #[test]
    fn bad_json_products_are_named() {
        assert!(error(from_json(
            br#"[{"productID": "A", "name": "A", "offers": {"price": "x"}}]"#,
            ""
        ))
        .ends_with("products.json product 1: A has no valid offers.price"));
        assert!(error(from_json(b"[{\"name\": \"A\"}]", "")).ends_with("products.json product 1: no productID"));
        assert!(error(from_json(b"[\n{]", "")).contains("products.json: key must be a string at line 2"));
    }

    #[test]
    fn inventory_names_products_of_the_data_set() {
        let products = HashSet::from(["a", "b"]);
        assert_eq!(
            inventory(b"product_id,quantity\na,3\nb,0\n", &products).unwrap(),
            [("a".to_owned(), 3), ("b".to_owned(), 0)]
        );
        assert!(error(inventory(b"product_id,quantity\nc,3\n", &products))
            .ends_with("inventory.csv line 2: product_id \"c\" is not a product of the data set"));
        assert!(error(inventory(b"product_id,quantity\na,-3\n", &products))
            .ends_with("inventory.csv line 2: quantity \"-3\" is negative"));
    }
}
