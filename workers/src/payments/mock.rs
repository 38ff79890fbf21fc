//! `mock_payment_handler`, the UCP samples' test handler: a card credential (`"type": "card"`,
//! a test card's number) authorises; otherwise the credential's `token` decides:
//! `success_token` authorises, `fail_token` declines (insufficient funds), `fraud_token` is
//! refused as fraud, any other token is declined as unknown.

use futures::future::BoxFuture;
use serde_json::Value;

use super::{Authorization, Charge, Decline, PaymentHandler};

pub struct MockHandler;

impl PaymentHandler for MockHandler {
    fn id(&self) -> &'static str {
        "mock_payment_handler"
    }

    fn authorize<'a>(&'a self, charge: &'a Charge<'a>) -> BoxFuture<'a, Result<Authorization, Decline>> {
        let card = charge.credential.get("type").and_then(Value::as_str) == Some("card")
            && charge.credential.get("number").and_then(Value::as_str).is_some();
        let token = charge.credential.get("token").and_then(Value::as_str);
        let outcome = match (card, token) {
            (true, _) | (false, Some("success_token")) => Ok(Authorization {
                id: format!("mock-{}", charge.idempotency_key),
            }),
            (false, Some("fail_token")) => Err(Decline::Declined {
                reason: "Payment Failed: Insufficient Funds (Mock)".into(),
            }),
            (false, Some("fraud_token")) => Err(Decline::Fraud {
                reason: "Payment Failed: Fraud Detected (Mock)".into(),
            }),
            _ => Err(Decline::Declined {
                reason: "Payment Failed: Unknown mock token".into(),
            }),
        };
        Box::pin(std::future::ready(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn authorize(credential: Value) -> Result<Authorization, Decline> {
        let charge = Charge {
            idempotency_key: uuid::Uuid::nil(),
            principal: "p",
            instrument_id: "i",
            credential: &credential,
            amount: 100,
            currency: "USD",
        };
        MockHandler.authorize(&charge).await
    }

    #[tokio::test]
    async fn the_token_decides() {
        assert!(authorize(json!({"type": "token", "token": "success_token"})).await.is_ok());
        assert!(matches!(authorize(json!({"token": "fail_token"})).await, Err(Decline::Declined { .. })));
        assert!(matches!(authorize(json!({"token": "fraud_token"})).await, Err(Decline::Fraud { .. })));
        assert!(matches!(authorize(json!({"token": "other"})).await, Err(Decline::Declined { reason }) if !reason.contains("other")));
        assert!(authorize(json!({"number": "4111111111111111"})).await.is_err(), "a number without the card type");
        assert!(authorize(json!({"type": "card", "number": "4242424242424242", "cvc": "123"})).await.is_ok());
    }
}
