//! The merchant's own facts: name, currency, payment handlers (from `seed/merchant.json`,
//! embedded at build time).

use serde::Deserialize;
use serde_json::Value;

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

    /// The merchant offering only the payment handlers `ids` (in that order), each of which
    /// must be one `seed/merchant.json` describes.
    pub fn offering(mut self, ids: &[String]) -> Result<Merchant, String> {
        if ids.is_empty() {
            return Err("PAYMENT_HANDLERS must name at least one payment handler".into());
        }
        let known = |h: &Value| h.get("id").and_then(Value::as_str).map(str::to_owned);
        let offered = ids
            .iter()
            .map(|id| {
                self.payment_handlers
                    .iter()
                    .find(|h| known(h).as_deref() == Some(id.trim()))
                    .cloned()
                    .ok_or_else(|| {
                        let names: Vec<String> = self.payment_handlers.iter().filter_map(known).collect();
                        format!("PAYMENT_HANDLERS: unknown payment handler {id:?}; known: {}", names.join(", "))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.payment_handlers = offered;
        Ok(self)
    }
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

    #[test]
    fn offering_keeps_the_named_handlers_in_order() {
        let ids = ["mock_payment_handler".to_owned(), "example_payment_provider".to_owned()];
        let merchant = Merchant::seed().offering(&ids).unwrap();
        let offered: Vec<&str> = merchant.payment_handlers.iter().filter_map(|h| h["id"].as_str()).collect();
        assert_eq!(offered, ids);
        assert!(Merchant::seed().offering(&["nope".to_owned()]).unwrap_err().contains("known: example_payment_provider"));
        assert!(Merchant::seed().offering(&[]).is_err());
    }
}
