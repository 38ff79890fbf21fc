//! The merchant's pricing rules: discount codes, promotions, shipping rates and tax rates, as the
//! merchant data set loaded them ([`crate::merchant_data`]). The checkout engine prices every
//! change with them, so they are read in one statement and kept in memory ([`Cache`]).

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::RwLock;

use crate::catalog::CACHE_REFRESH_AFTER;
use crate::Result;

/// The `country_code` of the shipping and tax rates that apply to countries without their own.
pub const DEFAULT_COUNTRY: &str = "default";

/// How a discount code takes money off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    /// `value` percent (0 to 100) of the subtotal.
    Percentage,
    /// `value` minor units off.
    FixedAmount,
}

impl DiscountKind {
    /// The kind named so in the data set and the database.
    pub fn from_name(name: &str) -> Option<DiscountKind> {
        match name {
            "percentage" => Some(DiscountKind::Percentage),
            "fixed_amount" => Some(DiscountKind::FixedAmount),
            _ => None,
        }
    }

    /// The name the data set and the database use.
    pub fn name(self) -> &'static str {
        match self {
            DiscountKind::Percentage => "percentage",
            DiscountKind::FixedAmount => "fixed_amount",
        }
    }
}

/// A discount code a buyer may enter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discount {
    pub code: String,
    pub kind: DiscountKind,
    /// Percent for [`DiscountKind::Percentage`], minor units for [`DiscountKind::FixedAmount`].
    pub value: i64,
    pub description: String,
}

/// What a promotion gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionKind {
    FreeShipping,
}

impl PromotionKind {
    /// The kind named so in the data set and the database.
    pub fn from_name(name: &str) -> Option<PromotionKind> {
        match name {
            "free_shipping" => Some(PromotionKind::FreeShipping),
            _ => None,
        }
    }

    /// The name the data set and the database use.
    pub fn name(self) -> &'static str {
        match self {
            PromotionKind::FreeShipping => "free_shipping",
        }
    }
}

/// A promotion applied without a code, when the checkout qualifies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Promotion {
    pub id: String,
    pub kind: PromotionKind,
    /// The smallest subtotal (minor units) that qualifies; `None`: any.
    pub min_subtotal: Option<i64>,
    /// Products of which the checkout must hold one to qualify; empty: any product.
    pub eligible_item_ids: Vec<String>,
    pub description: String,
}

/// A shipping option to a country.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShippingRate {
    pub id: String,
    /// An ISO 3166-1 alpha-2 code (upper case), or [`DEFAULT_COUNTRY`].
    pub country_code: String,
    /// `standard`, `express`, ...: a country's own rate replaces the default rate of its level.
    pub service_level: String,
    /// Minor units.
    pub price: i64,
    pub title: String,
    pub description: String,
    pub carrier: String,
}

/// The tax rate of a country.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TaxRate {
    /// An ISO 3166-1 alpha-2 code (upper case), or [`DEFAULT_COUNTRY`].
    pub country_code: String,
    /// Hundredths of a percent: 825 is 8.25 %.
    pub rate_basis_points: i64,
}

/// Every pricing rule of the merchant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Rules {
    pub discounts: Vec<Discount>,
    pub promotions: Vec<Promotion>,
    pub shipping_rates: Vec<ShippingRate>,
    pub tax_rates: Vec<TaxRate>,
}

impl Rules {
    /// The shipping options to `country`: its own rates, and the default rates of the service
    /// levels it has none of; cheapest first (then by id).
    pub fn shipping_rates_for(&self, country: &str) -> Vec<&ShippingRate> {
        let own: Vec<&ShippingRate> = self
            .shipping_rates
            .iter()
            .filter(|rate| rate.country_code.eq_ignore_ascii_case(country))
            .collect();
        let defaults = self.shipping_rates.iter().filter(|rate| {
            rate.country_code == DEFAULT_COUNTRY
                && !own
                    .iter()
                    .any(|mine| mine.service_level.eq_ignore_ascii_case(&rate.service_level))
        });
        let mut rates: Vec<&ShippingRate> = defaults.chain(own.iter().copied()).collect();
        rates.sort_by(|a, b| a.price.cmp(&b.price).then_with(|| a.id.cmp(&b.id)));
        rates
    }

    /// The tax rate (basis points) for a destination: the country's, else the default rate, else
    /// none (0). No country yet: the default rate.
    pub fn tax_basis_points_for(&self, country: Option<&str>) -> i64 {
        let rate_of = |code: &str| {
            self.tax_rates
                .iter()
                .find(|rate| rate.country_code.eq_ignore_ascii_case(code))
                .map(|rate| rate.rate_basis_points)
        };
        country
            .and_then(rate_of)
            .or_else(|| rate_of(DEFAULT_COUNTRY))
            .unwrap_or(0)
    }

    /// The discount with this code, compared case-insensitively.
    pub fn discount(&self, code: &str) -> Option<&Discount> {
        let code = code.trim();
        self.discounts
            .iter()
            .find(|discount| discount.code.eq_ignore_ascii_case(code))
    }
}

/// Reads every rule, in one statement so a data set being loaded at the same time is seen
/// whole or not at all.
pub async fn load(pool: &PgPool) -> Result<Rules> {
    let rules: serde_json::Value = sqlx::query_scalar(
        "SELECT jsonb_build_object(
             'discounts', (SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY d.code), '[]') FROM discounts d),
             'promotions', (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.id), '[]') FROM promotions p),
             'shipping_rates', (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.price, s.id), '[]') FROM shipping_rates s),
             'tax_rates', (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.country_code), '[]') FROM tax_rates t))",
    )
    .fetch_one(pool)
    .await?;
    Ok(serde_json::from_value(rules)?)
}

/// The rules in memory: every checkout change is priced, and must not cost a database round
/// trip for rules that change only when a data set is loaded. Reloaded when older than
/// [`CACHE_REFRESH_AFTER`], so a new data set is used within that time.
pub struct Cache {
    pool: PgPool,
    loaded: RwLock<Option<(Instant, Arc<Rules>)>>,
}

impl Cache {
    pub fn new(pool: PgPool) -> Cache {
        Cache {
            pool,
            loaded: RwLock::new(None),
        }
    }

    /// The current rules.
    pub async fn get(&self) -> Result<Arc<Rules>> {
        if let Some((at, rules)) = &*self.loaded.read().await {
            if at.elapsed() < CACHE_REFRESH_AFTER {
                return Ok(rules.clone());
            }
        }
        let mut loaded = self.loaded.write().await;
        if let Some((at, rules)) = &*loaded {
            if at.elapsed() < CACHE_REFRESH_AFTER {
                return Ok(rules.clone());
            }
        }
        let rules = Arc::new(load(&self.pool).await?);
        *loaded = Some((Instant::now(), rules.clone()));
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(id: &str, country_code: &str, service_level: &str, price: i64) -> ShippingRate {
        ShippingRate {
            id: id.into(),
            country_code: country_code.into(),
            service_level: service_level.into(),
            price,
            title: id.into(),
            description: String::new(),
            carrier: String::new(),
        }
    }

    /// The flower shop's rates.
    fn flower_shop() -> Rules {
        Rules {
            shipping_rates: vec![
                rate("std-ship", "default", "standard", 500),
                rate("exp-ship-us", "US", "express", 1500),
                rate("exp-ship-intl", "default", "express", 2500),
            ],
            tax_rates: vec![
                TaxRate {
                    country_code: "default".into(),
                    rate_basis_points: 1000,
                },
                TaxRate {
                    country_code: "US".into(),
                    rate_basis_points: 825,
                },
            ],
            discounts: vec![Discount {
                code: "WELCOME20".into(),
                kind: DiscountKind::Percentage,
                value: 20,
                description: "20% Off".into(),
            }],
            ..Rules::default()
        }
    }

    fn ids(rates: Vec<&ShippingRate>) -> Vec<&str> {
        rates.into_iter().map(|rate| rate.id.as_str()).collect()
    }

    #[test]
    fn a_countrys_own_rate_replaces_the_default_of_its_service_level() {
        let rules = flower_shop();
        assert_eq!(ids(rules.shipping_rates_for("US")), ["std-ship", "exp-ship-us"]);
        assert_eq!(ids(rules.shipping_rates_for("us")), ["std-ship", "exp-ship-us"]);
        assert_eq!(ids(rules.shipping_rates_for("DE")), ["std-ship", "exp-ship-intl"]);
    }

    #[test]
    fn shipping_rates_are_ordered_by_price_then_id() {
        let rules = Rules {
            shipping_rates: vec![
                rate("b", "default", "express", 900),
                rate("z", "FR", "standard", 300),
                rate("a", "default", "economy", 300),
            ],
            ..Rules::default()
        };
        assert_eq!(ids(rules.shipping_rates_for("FR")), ["a", "z", "b"]);
        assert_eq!(ids(rules.shipping_rates_for("IT")), ["a", "b"]);
    }

    #[test]
    fn no_rates_no_shipping_options() {
        assert!(Rules::default().shipping_rates_for("US").is_empty());
    }

    #[test]
    fn tax_is_the_countrys_else_the_default_else_none() {
        let rules = flower_shop();
        assert_eq!(rules.tax_basis_points_for(Some("US")), 825);
        assert_eq!(rules.tax_basis_points_for(Some("us")), 825);
        assert_eq!(rules.tax_basis_points_for(Some("DE")), 1000);
        assert_eq!(rules.tax_basis_points_for(None), 1000);
        assert_eq!(Rules::default().tax_basis_points_for(Some("US")), 0);
    }

    #[test]
    fn discount_codes_match_case_insensitively() {
        let rules = flower_shop();
        assert_eq!(rules.discount("welcome20").map(|d| d.value), Some(20));
        assert_eq!(
            rules.discount(" WELCOME20 ").map(|d| d.kind),
            Some(DiscountKind::Percentage)
        );
        assert!(rules.discount("WELCOME").is_none());
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [DiscountKind::Percentage, DiscountKind::FixedAmount] {
            assert_eq!(DiscountKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(
            PromotionKind::from_name(PromotionKind::FreeShipping.name()),
            Some(PromotionKind::FreeShipping)
        );
        assert_eq!(DiscountKind::from_name("bogo"), None);
    }
}
