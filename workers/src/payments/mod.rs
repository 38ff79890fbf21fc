//! Payment handlers: what a payment processor implements, and the worker's registry of the
//! ones this merchant offers (`PAYMENT_HANDLERS`).
//!
//! Completing a checkout opens the instrument's sealed credential (the only place it is
//! opened), hands it to the instrument's handler with the amount, and drops it. A declined or
//! refused payment leaves the checkout `ready_for_complete`, still payable, and places no order.
//!
//! - [`example`]: sandbox handlers that accept any credential (demo data):
//!   `example_payment_provider`, `google_pay`, `shop_pay`.
//! - [`mock`]: `mock_payment_handler`, the UCP samples' test handler: `success_token`
//!   authorises, `fail_token` declines, `fraud_token` is refused as fraud.

pub mod example;
pub mod mock;

use std::sync::Arc;

use futures::future::BoxFuture;
use schemas::action::Payment;
use schemas::ucp::Checkout;
use schemas::TaskEnvelope;
use serde_json::Value;
use uuid::Uuid;
use vault::Keyring;

use crate::commerce::checkout::Refusal;

/// One payment to authorise.
pub struct Charge<'a> {
    /// The turn's task: the same turn may be authorised again after a crash between the
    /// authorisation and the commit, so a processor must use it as its idempotency key.
    pub idempotency_key: Uuid,
    pub principal: &'a str,
    pub instrument_id: &'a str,
    /// The opened credential, as the client sent it (e.g. `{"type":"token","token":"..."}`).
    /// Never log or keep it.
    pub credential: &'a Value,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: &'a str,
}

/// An authorised payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub id: String,
}

/// Why a handler did not authorise a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decline {
    /// The processor declined (insufficient funds, an unknown token, ...).
    Declined { reason: String },
    /// The processor refused the payment as fraudulent.
    Fraud { reason: String },
}

/// What a payment processor implements.
pub trait PaymentHandler: Send + Sync {
    /// The handler id instruments name (`handler_id`) and the business profile lists.
    fn id(&self) -> &'static str;

    /// Authorises `charge`, or says why not.
    fn authorize<'a>(&'a self, charge: &'a Charge<'a>) -> BoxFuture<'a, Result<Authorization, Decline>>;
}

/// The handlers this merchant offers, and the keys that open credentials.
pub struct Payments {
    keyring: Arc<Keyring>,
    handlers: Vec<Arc<dyn PaymentHandler>>,
}

impl Payments {
    /// The offered handlers by id; every one needs an implementation here.
    pub fn new(keyring: Keyring, offered: &[String]) -> Result<Payments, String> {
        let mut known: Vec<Arc<dyn PaymentHandler>> = vec![Arc::new(mock::MockHandler)];
        known.extend(example::SANDBOX_IDS.map(|id| Arc::new(example::Sandbox(id)) as Arc<dyn PaymentHandler>));
        let handlers = offered
            .iter()
            .map(|id| {
                known
                    .iter()
                    .find(|h| h.id() == id)
                    .cloned()
                    .ok_or_else(|| format!("PAYMENT_HANDLERS: no payment handler {id:?} in this build"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Payments {
            keyring: Arc::new(keyring),
            handlers,
        })
    }

    /// Authorises the turn's payment for the checkout's total. The credential is opened here,
    /// handed to the handler and dropped; a refusal never says what the credential was.
    pub async fn authorize(&self, env: &TaskEnvelope, payment: &Payment, checkout: &Checkout) -> Result<Authorization, Refusal> {
        let instrument = &payment.instrument;
        let handler = self
            .handlers
            .iter()
            .find(|h| h.id() == instrument.handler_id)
            .ok_or_else(|| Refusal::new("payment_handler_unknown", format!("payment handler {} is not offered by this merchant", instrument.handler_id)))?;
        let sealed = payment.sealed_credential().ok_or_else(|| {
            Refusal::new("payment_credential_missing", "the payment instrument carries no credential; send it with complete_checkout")
        })?;
        let opened = self.keyring.open(sealed, &env.principal, &env.message_id).map_err(|error| {
            tracing::warn!(task_id = %env.task_id, %error, "payment credential did not open");
            Refusal::new("payment_credential_unreadable", "the payment credential could not be read; send the payment again")
        })?;
        let credential: Value = serde_json::from_slice(&opened).map_err(|_| {
            Refusal::new("payment_credential_unreadable", "the payment credential could not be read; send the payment again")
        })?;
        drop(opened);
        let charge = Charge {
            idempotency_key: env.task_id,
            principal: &env.principal,
            instrument_id: &instrument.id,
            credential: &credential,
            amount: checkout.total("total").unwrap_or(0),
            currency: &checkout.currency,
        };
        let outcome = handler.authorize(&charge).await;
        drop(credential);
        match outcome {
            Ok(authorization) => {
                tracing::info!(task_id = %env.task_id, handler = handler.id(), authorization = %authorization.id, "payment authorized");
                Ok(authorization)
            }
            Err(Decline::Declined { reason }) => {
                tracing::info!(task_id = %env.task_id, handler = handler.id(), %reason, "payment declined");
                Err(Refusal::new("payment_declined", format!("{reason}. The checkout is still open: pay with another instrument.")))
            }
            Err(Decline::Fraud { reason }) => {
                tracing::warn!(task_id = %env.task_id, handler = handler.id(), %reason, "payment refused as fraud");
                Err(Refusal::new("payment_fraud_suspected", format!("{reason}. The checkout is still open.")))
            }
        }
    }
}
