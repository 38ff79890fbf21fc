//! Sandbox handlers that accept any credential: `example_payment_provider` (as the UCP sample
//! has it), and `google_pay` and `shop_pay` standing in for those wallets' processors. Demo
//! data, for a merchant that has no processor yet; offer a real handler in production.

use futures::future::BoxFuture;

use super::{Authorization, Charge, Decline, PaymentHandler};

/// The handler ids served by [`Sandbox`].
pub const SANDBOX_IDS: [&str; 3] = ["example_payment_provider", "google_pay", "shop_pay"];

pub struct Sandbox(pub &'static str);

impl PaymentHandler for Sandbox {
    fn id(&self) -> &'static str {
        self.0
    }

    fn authorize<'a>(&'a self, charge: &'a Charge<'a>) -> BoxFuture<'a, Result<Authorization, Decline>> {
        Box::pin(async move {
            Ok(Authorization {
                id: format!("{}-{}", self.0, charge.idempotency_key),
            })
        })
    }
}
