//! `example_payment_provider`, as the UCP sample has it: it accepts any credential. Demo data,
//! for a merchant that has no processor yet; offer a real handler in production.

use futures::future::BoxFuture;

use super::{Authorization, Charge, Decline, PaymentHandler};

pub struct ExampleProvider;

impl PaymentHandler for ExampleProvider {
    fn id(&self) -> &'static str {
        "example_payment_provider"
    }

    fn authorize<'a>(&'a self, charge: &'a Charge<'a>) -> BoxFuture<'a, Result<Authorization, Decline>> {
        Box::pin(async move {
            Ok(Authorization {
                id: format!("example-{}", charge.idempotency_key),
            })
        })
    }
}
