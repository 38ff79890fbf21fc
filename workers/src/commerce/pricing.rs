//! Prices a checkout from the merchant's rules (`store::pricing`): line totals from catalog
//! prices, discount codes applied in the order given, shipping options per destination country
//! with free-shipping promotions, tax per country, and the checkout totals. Pure: every function
//! takes the checkout and the rules.

use schemas::ucp::{AppliedDiscount, Checkout, FulfillmentOption, LineItem, Total};
use store::pricing::{DiscountKind, PromotionKind, Rules, ShippingRate};

/// The service level free-shipping promotions make free.
const FREE_SERVICE_LEVEL: &str = "standard";

/// Recomputes line totals, the applied discounts, each shipping group's options (for its
/// method's selected destination; a selection the new options lack is dropped), and the
/// checkout totals: subtotal, discount, fulfillment, tax (once a destination is known), total.
pub fn recalculate(checkout: &mut Checkout, rules: &Rules) {
    let mut subtotal = 0;
    for line in &mut checkout.line_items {
        let amount = line.item.price * line.quantity;
        line.totals = vec![
            Total::new("subtotal", "Subtotal", amount),
            Total::new("total", "Total", amount),
        ];
        subtotal += amount;
    }
    let discount = apply_discounts(checkout, rules, subtotal);
    let free_shipping = free_shipping(&checkout.line_items, rules, subtotal);
    let line_item_ids: Vec<String> = checkout.line_items.iter().map(|line| line.id.clone()).collect();
    let mut shipping = None;
    let mut country = None;
    for method in checkout.fulfillment.iter_mut().flat_map(|f| &mut f.methods) {
        method.line_item_ids = line_item_ids.clone();
        let destination_country = method
            .destinations
            .iter()
            .flatten()
            .find(|d| Some(&d.id) == method.selected_destination_id.as_ref())
            .and_then(|d| d.address.address_country.clone());
        for group in &mut method.groups {
            group.line_item_ids = line_item_ids.clone();
            group.options = match &destination_country {
                Some(country) => shipping_options(rules, country, free_shipping),
                None => Vec::new(),
            };
            let selected = group
                .options
                .iter()
                .find(|o| Some(&o.id) == group.selected_option_id.as_ref());
            match selected {
                Some(option) => shipping = Some(shipping.unwrap_or(0) + option_total(option)),
                None => group.selected_option_id = None,
            }
        }
        country = country.or(destination_country);
    }
    let mut totals = vec![Total::new("subtotal", "Subtotal", subtotal)];
    let mut total = subtotal;
    if discount > 0 {
        totals.push(Total::new("discount", "Discount", discount));
        total -= discount;
    }
    if let Some(shipping) = shipping {
        totals.push(Total::new("fulfillment", "Shipping", shipping));
        total += shipping;
    }
    let tax_rate = rules.tax_basis_points_for(country.as_deref());
    if country.is_some() && tax_rate > 0 {
        let tax = ((subtotal - discount) * tax_rate + 5_000) / 10_000;
        totals.push(Total::new("tax", "Tax", tax));
        total += tax;
    }
    totals.push(Total::new("total", "Total", total));
    checkout.totals = totals;
}

/// Applies the checkout's discount codes in order, each to what the ones before it left
/// (percentages round the remainder down); unknown codes apply nothing. Returns the sum.
fn apply_discounts(checkout: &mut Checkout, rules: &Rules, subtotal: i64) -> i64 {
    let Some(discounts) = &mut checkout.discounts else {
        return 0;
    };
    let mut remaining = subtotal;
    discounts.applied.clear();
    for code in &discounts.codes {
        let Some(rule) = rules.discount(code) else {
            continue;
        };
        if discounts.applied.iter().any(|a| a.code == rule.code) {
            continue;
        }
        let after = match rule.kind {
            DiscountKind::Percentage => remaining * (100 - rule.value.clamp(0, 100)) / 100,
            DiscountKind::FixedAmount => (remaining - rule.value).max(0),
        };
        discounts.applied.push(AppliedDiscount {
            code: rule.code.clone(),
            title: rule.description.clone(),
            amount: remaining - after,
        });
        remaining = after;
    }
    subtotal - remaining
}

/// True if a free-shipping promotion covers these lines: the subtotal reaches its minimum, or a
/// line holds one of its products.
fn free_shipping(lines: &[LineItem], rules: &Rules, subtotal: i64) -> bool {
    rules.promotions.iter().any(|promotion| match promotion.kind {
        PromotionKind::FreeShipping => {
            let by_subtotal = promotion.min_subtotal.is_some_and(|min| subtotal >= min);
            let by_item = lines
                .iter()
                .any(|line| promotion.eligible_item_ids.contains(&line.item.id));
            by_subtotal || by_item
        }
    })
}

/// The shipping options to a country, cheapest first; standard shipping is free when a
/// promotion applies.
pub fn shipping_options(rules: &Rules, country: &str, free_shipping: bool) -> Vec<FulfillmentOption> {
    let option = |rate: &ShippingRate| {
        let free = free_shipping && rate.service_level == FREE_SERVICE_LEVEL;
        let (amount, title) = if free {
            (0, format!("{} (Free)", rate.title))
        } else {
            (rate.price, rate.title.clone())
        };
        FulfillmentOption {
            id: rate.id.clone(),
            title,
            description: rate.description.clone(),
            carrier: rate.carrier.clone(),
            totals: vec![
                Total::new("subtotal", "Subtotal", amount),
                Total::new("total", "Total", amount),
            ],
        }
    };
    let mut options: Vec<FulfillmentOption> = rules.shipping_rates_for(country).into_iter().map(option).collect();
    options.sort_by_key(|o| (option_total(o), o.id.clone()));
    options
}

fn option_total(option: &FulfillmentOption) -> i64 {
    option.totals.iter().find(|t| t.kind == "total").map_or(0, |t| t.amount)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use store::pricing::{Discount, Promotion, TaxRate};

    /// The sample store's rules (`seed/`) plus the flower shop's discounts and promotion.
    pub fn rules() -> Rules {
        let rate = |id: &str, country: &str, level: &str, price: i64, title: &str| ShippingRate {
            id: id.into(),
            country_code: country.into(),
            service_level: level.into(),
            price,
            title: title.into(),
            description: String::new(),
            carrier: String::new(),
        };
        let discount = |code: &str, kind, value| Discount {
            code: code.into(),
            kind,
            value,
            description: format!("{code} off"),
        };
        Rules {
            discounts: vec![
                discount("10OFF", DiscountKind::Percentage, 10),
                discount("WELCOME20", DiscountKind::Percentage, 20),
                discount("FIXED500", DiscountKind::FixedAmount, 500),
            ],
            promotions: vec![Promotion {
                id: "promo_1".into(),
                kind: PromotionKind::FreeShipping,
                min_subtotal: Some(10_000),
                eligible_item_ids: vec!["bouquet_roses".into()],
                description: "Free shipping".into(),
            }],
            shipping_rates: vec![
                rate("standard", "default", "standard", 500, "Standard Shipping"),
                rate("express", "default", "express", 1000, "Express Shipping"),
                rate("exp-ship-us", "US", "express", 1500, "Express Shipping (US)"),
            ],
            tax_rates: vec![TaxRate {
                country_code: "default".into(),
                rate_basis_points: 1000,
            }],
        }
    }

    #[test]
    fn discounts_compound_in_order_and_unknown_codes_apply_nothing() {
        let rules = rules();
        let mut checkout = super::super::checkout::tests::checkout();
        checkout.discounts = Some(schemas::ucp::Discounts {
            codes: vec!["10OFF".into(), "NOPE".into(), "WELCOME20".into(), "FIXED500".into()],
            applied: Vec::new(),
        });
        assert_eq!(apply_discounts(&mut checkout, &rules, 3500), 350 + 630 + 500);
        let applied: Vec<(&str, i64)> = checkout
            .discounts
            .as_ref()
            .unwrap()
            .applied
            .iter()
            .map(|a| (a.code.as_str(), a.amount))
            .collect();
        assert_eq!(applied, [("10OFF", 350), ("WELCOME20", 630), ("FIXED500", 500)]);
    }

    #[test]
    fn a_fixed_discount_never_takes_the_total_below_zero() {
        let rules = rules();
        let mut checkout = super::super::checkout::tests::checkout();
        checkout.discounts = Some(schemas::ucp::Discounts {
            codes: vec!["FIXED500".into()],
            applied: Vec::new(),
        });
        assert_eq!(apply_discounts(&mut checkout, &rules, 300), 300);
    }

    #[test]
    fn country_rates_replace_default_ones_of_their_service_level() {
        let rules = rules();
        let us: Vec<String> = shipping_options(&rules, "US", false)
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(us, ["standard", "exp-ship-us"]);
        let ca: Vec<String> = shipping_options(&rules, "CA", false)
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(ca, ["standard", "express"]);
    }

    #[test]
    fn free_shipping_makes_standard_free_and_says_so() {
        let options = shipping_options(&rules(), "US", true);
        assert_eq!(option_total(&options[0]), 0);
        assert_eq!(options[0].title, "Standard Shipping (Free)");
        assert_eq!(option_total(&options[1]), 1500, "express stays paid");
    }
}
