//! The merchant's own facts: name, currency, payment handlers (from `seed/merchant.json`,
//! embedded at build time) and the UCP capabilities this runtime implements.

use serde::Deserialize;
use serde_json::Value;

use crate::ucp::{Capability, VERSION};

/// The merchant as `seed/merchant.json` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Merchant {
    pub name: String,
    pub description: String,
    pub provider: Value,
    pub currency: String,
    pub payment_handlers: Vec<Value>,
}

impl Merchant {
    /// The merchant compiled into this build.
    pub fn seed() -> Merchant {
        serde_json::from_str(include_str!("../../seed/merchant.json")).expect("seed/merchant.json is valid (tested)")
    }
}

/// The UCP capabilities this runtime implements: checkout, and fulfillment extending it.
pub fn business_capabilities() -> Vec<Capability> {
    let capability = |name: &str, extends: Option<&str>| {
        let short = name.rsplit('.').next().unwrap_or(name);
        Capability {
            name: name.to_owned(),
            version: VERSION.to_owned(),
            spec: Some(format!("https://ucp.dev/specs/shopping/{short}")),
            schema: Some(format!("https://ucp.dev/schemas/shopping/{short}.json")),
            extends: extends.map(str::to_owned),
        }
    };
    vec![
        capability("dev.ucp.shopping.checkout", None),
        capability("dev.ucp.shopping.fulfillment", Some("dev.ucp.shopping.checkout")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_merchant_parses() {
        let merchant = Merchant::seed();
        assert_eq!(merchant.currency, "USD");
        assert!(!merchant.payment_handlers.is_empty());
    }
}
