//! The pricing rules of a data set: `discounts.csv`, `promotions.csv`, `shipping_rates.csv`,
//! `tax_rates.csv`, read into [`crate::pricing`]'s types.

use std::collections::HashSet;

use schemas::ucp::parse_price_minor;
use serde::Deserialize;

use super::csv_file::{rows, Unique};
use crate::pricing::{Discount, DiscountKind, Promotion, PromotionKind, ShippingRate, TaxRate};
use crate::Result;

/// The largest tax rate, in basis points (100 %).
const MAX_TAX_BASIS_POINTS: i64 = 10_000;

#[derive(Deserialize)]
struct DiscountRow {
    code: String,
    #[serde(rename = "type")]
    kind: String,
    value: String,
    #[serde(default)]
    description: String,
}

/// `discounts.csv`: `code` (unique, case-insensitively), `type` (`percentage`: `value` is a
/// percent, 0 to 100; `fixed_amount`: `value` is minor units), `value`, `description`.
pub(super) fn discounts(bytes: &[u8]) -> Result<Vec<Discount>> {
    let mut codes = Unique::new("code");
    let mut discounts = Vec::new();
    for (line, row) in rows::<DiscountRow>("discounts.csv", bytes, &["code", "type", "value"])? {
        let code = line.required("code", row.code)?;
        codes.check(line, &code.to_uppercase())?;
        let kind = DiscountKind::from_name(&row.kind).ok_or_else(|| {
            line.error(format_args!(
                "type {:?} is neither percentage nor fixed_amount",
                row.kind
            ))
        })?;
        let value = line.count("value", &row.value)?;
        if kind == DiscountKind::Percentage && value > 100 {
            return Err(line.error(format_args!("value {value} is more than 100 percent")));
        }
        discounts.push(Discount {
            code,
            kind,
            value,
            description: row.description,
        });
    }
    Ok(discounts)
}

#[derive(Deserialize)]
struct PromotionRow {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    min_subtotal: String,
    #[serde(default)]
    eligible_item_ids: String,
    #[serde(default)]
    description: String,
}

/// `promotions.csv`: `id`, `type` (`free_shipping`), `min_subtotal` (minor units, may be empty),
/// `eligible_item_ids` (empty, or a JSON array of product ids of the data set), `description`.
pub(super) fn promotions(bytes: &[u8], products: &HashSet<&str>) -> Result<Vec<Promotion>> {
    let mut ids = Unique::new("id");
    let mut promotions = Vec::new();
    for (line, row) in rows::<PromotionRow>("promotions.csv", bytes, &["id", "type"])? {
        let id = line.required("id", row.id)?;
        ids.check(line, &id)?;
        let kind = PromotionKind::from_name(&row.kind)
            .ok_or_else(|| line.error(format_args!("type {:?} is not free_shipping", row.kind)))?;
        let eligible_item_ids: Vec<String> = match row.eligible_item_ids.as_str() {
            "" => Vec::new(),
            list => serde_json::from_str(list).map_err(|_| {
                line.error(format_args!(
                    "eligible_item_ids {list:?} is not a JSON array of product ids"
                ))
            })?,
        };
        if let Some(unknown) = eligible_item_ids.iter().find(|id| !products.contains(id.as_str())) {
            return Err(line.error(format_args!(
                "eligible_item_ids names {unknown:?}, which is not a product of the data set"
            )));
        }
        promotions.push(Promotion {
            id,
            kind,
            min_subtotal: line.optional_count("min_subtotal", &row.min_subtotal)?,
            eligible_item_ids,
            description: row.description,
        });
    }
    Ok(promotions)
}

#[derive(Deserialize)]
struct ShippingRateRow {
    id: String,
    country_code: String,
    service_level: String,
    price: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    carrier: String,
}

/// `shipping_rates.csv`: `id`, `country_code` (ISO 3166-1 alpha-2 or `default`),
/// `service_level`, `price` (minor units), `title`; optionally `description`, `carrier`.
pub(super) fn shipping_rates(bytes: &[u8]) -> Result<Vec<ShippingRate>> {
    let columns = ["id", "country_code", "service_level", "price", "title"];
    let mut ids = Unique::new("id");
    let mut rates = Vec::new();
    for (line, row) in rows::<ShippingRateRow>("shipping_rates.csv", bytes, &columns)? {
        let id = line.required("id", row.id)?;
        ids.check(line, &id)?;
        rates.push(ShippingRate {
            id,
            country_code: line.rate_country("country_code", &row.country_code)?,
            service_level: line.required("service_level", row.service_level)?,
            price: line.count("price", &row.price)?,
            title: line.required("title", row.title)?,
            description: row.description,
            carrier: row.carrier,
        });
    }
    Ok(rates)
}

#[derive(Deserialize)]
struct TaxRateRow {
    country_code: String,
    rate_percent: String,
}

/// `tax_rates.csv`: `country_code` (ISO 3166-1 alpha-2 or `default`, unique), `rate_percent` (a
/// decimal with at most two places, 0 to 100), stored as basis points.
pub(super) fn tax_rates(bytes: &[u8]) -> Result<Vec<TaxRate>> {
    let mut countries = Unique::new("country_code");
    let mut rates = Vec::new();
    for (line, row) in rows::<TaxRateRow>("tax_rates.csv", bytes, &["country_code", "rate_percent"])? {
        let country_code = line.rate_country("country_code", &row.country_code)?;
        countries.check(line, &country_code)?;
        // Percent with two decimals is hundredths of a percent, as a price is hundredths of a unit.
        let rate_basis_points = parse_price_minor(&row.rate_percent)
            .filter(|points| *points <= MAX_TAX_BASIS_POINTS)
            .ok_or_else(|| {
                line.error(format_args!(
                    "rate_percent {:?} is not a percentage from 0 to 100 with at most two decimals",
                    row.rate_percent
                ))
            })?;
        rates.push(TaxRate {
            country_code,
            rate_basis_points,
        });
    }
    Ok(rates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(result: Result<impl std::fmt::Debug>) -> String {
        result.expect_err("an error").to_string()
    }

    #[test]
    fn discounts_read_both_kinds() {
        let found =
            discounts(b"code,type,value,description\n10OFF,percentage,10,10% Off\nFIXED500,fixed_amount,500,$5.00 Off")
                .unwrap();
        assert_eq!(found[0].kind, DiscountKind::Percentage);
        assert_eq!((found[1].kind, found[1].value), (DiscountKind::FixedAmount, 500));
    }

    #[test]
    fn bad_discounts_are_named_by_line_and_field() {
        let header = "code,type,value,description\n";
        let cases = [
            (
                "A,percentage,x,\n",
                "discounts.csv line 2: value \"x\" is not an integer",
            ),
            (
                "A,percentage,101,\n",
                "discounts.csv line 2: value 101 is more than 100 percent",
            ),
            (
                "A,bogo,1,\n",
                "discounts.csv line 2: type \"bogo\" is neither percentage nor fixed_amount",
            ),
            (
                "A,percentage,1,\na,fixed_amount,-2,\n",
                "discounts.csv line 3: code \"A\" repeats line 2",
            ),
            ("A,fixed_amount,-2,\n", "discounts.csv line 2: value \"-2\" is negative"),
        ];
        for (rows, expected) in cases {
            let message = error(discounts(format!("{header}{rows}").as_bytes()));
            assert!(message.ends_with(expected), "{message}");
        }
    }

    #[test]
    fn promotions_read_optional_subtotals_and_eligible_products() {
        let products = HashSet::from(["bouquet_roses"]);
        let csv = b"id,type,min_subtotal,eligible_item_ids,description\npromo_1,free_shipping,10000,,Over $100\npromo_2,free_shipping,,\"[\"\"bouquet_roses\"\"]\",Roses\n";
        let found = promotions(csv, &products).unwrap();
        assert_eq!(
            (found[0].min_subtotal, found[0].eligible_item_ids.len()),
            (Some(10000), 0)
        );
        assert_eq!(
            (found[1].min_subtotal, found[1].eligible_item_ids.as_slice()),
            (None, &["bouquet_roses".to_owned()][..])
        );
        let header = "id,type,min_subtotal,eligible_item_ids\n";
        let cases = [
            (
                "p,free_shipping,,tulips\n",
                "promotions.csv line 2: eligible_item_ids \"tulips\" is not a JSON array of product ids",
            ),
            (
                "p,free_shipping,,\"[\"\"tulips\"\"]\"\n",
                "promotions.csv line 2: eligible_item_ids names \"tulips\", which is not a product of the data set",
            ),
            (
                "p,bogo,,\n",
                "promotions.csv line 2: type \"bogo\" is not free_shipping",
            ),
            (
                "p,free_shipping,ten,\n",
                "promotions.csv line 2: min_subtotal \"ten\" is not an integer",
            ),
        ];
        for (rows, expected) in cases {
            let message = error(promotions(format!("{header}{rows}").as_bytes(), &products));
            assert!(message.ends_with(expected), "{message}");
        }
    }

    #[test]
    fn shipping_rates_take_iso_codes_or_default() {
        let csv = b"id,country_code,service_level,price,title\nstd,default,standard,500,Standard\nus,us,express,1500,Express\n";
        let found = shipping_rates(csv).unwrap();
        assert_eq!(
            (found[0].country_code.as_str(), found[1].country_code.as_str()),
            ("default", "US")
        );
        assert_eq!((found[1].description.as_str(), found[1].carrier.as_str()), ("", ""));
        let bad = b"id,country_code,service_level,price,title\nx,USA,standard,500,Standard\n";
        assert!(error(shipping_rates(bad)).ends_with(
            "shipping_rates.csv line 2: country_code \"USA\" is neither an ISO 3166-1 alpha-2 code nor default"
        ));
    }

    #[test]
    fn tax_rates_become_basis_points() {
        let found = tax_rates(b"country_code,rate_percent\ndefault,10\nUS,8.25\nDE,0.5\n").unwrap();
        let points: Vec<i64> = found.iter().map(|rate| rate.rate_basis_points).collect();
        assert_eq!(points, [1000, 825, 50]);
        for bad in ["8.255", "-1", "101", "ten"] {
            let message = error(tax_rates(format!("country_code,rate_percent\nUS,{bad}\n").as_bytes()));
            assert!(
                message.contains(&format!("tax_rates.csv line 2: rate_percent \"{bad}\"")),
                "{message}"
            );
        }
        assert!(error(tax_rates(b"country_code,rate_percent\nus,1\nUS,2\n"))
            .ends_with("tax_rates.csv line 3: country_code \"US\" repeats line 2"));
    }
}
