//! The UCP REST binding's operations as they travel: the ingress parses a request into an
//! [`Operation`], records it as a task whose message holds it under [`OPERATION_KEY`], and
//! queues it on the checkout's partition like any A2A turn; the worker answers with a
//! [`Response`] under [`RESPONSE_KEY`] in the task's reply, which the ingress returns as is (and
//! returns again, byte for byte, to a retry with the same `Idempotency-Key`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::Payment;
use crate::ucp::{Adjustment, Buyer, FulfillmentEvent, PostalAddress};

/// DataPart key of the operation in a REST task's stored message. The A2A binding refuses
/// messages carrying it: only the REST binding queues operations.
pub const OPERATION_KEY: &str = "ucp.rest.operation";
/// DataPart key of the HTTP response in a REST task's reply.
pub const RESPONSE_KEY: &str = "ucp.rest.response";

/// One REST mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// `POST /checkout-sessions`; the ingress chose the id.
    CreateCheckout {
        checkout_id: String,
        request: CheckoutRequest,
    },
    /// `PUT /checkout-sessions/{id}`.
    UpdateCheckout {
        checkout_id: String,
        request: CheckoutRequest,
    },
    /// `POST /checkout-sessions/{id}/complete`.
    CompleteCheckout {
        checkout_id: String,
        payment: Payment,
        #[serde(default)]
        platform: Platform,
    },
    /// `POST /checkout-sessions/{id}/cancel`.
    CancelCheckout { checkout_id: String },
    /// `PUT /orders/{id}`.
    UpdateOrder { order_id: String, update: OrderUpdate },
    /// `POST /testing/simulate-shipping/{id}`.
    ShipOrder { order_id: String },
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::CreateCheckout { .. } => "create_checkout",
            Operation::UpdateCheckout { .. } => "update_checkout",
            Operation::CompleteCheckout { .. } => "complete_checkout",
            Operation::CancelCheckout { .. } => "cancel_checkout",
            Operation::UpdateOrder { .. } => "update_order",
            Operation::ShipOrder { .. } => "ship_order",
        }
    }

    /// The payment the operation carries, if any.
    pub fn payment_mut(&mut self) -> Option<&mut Payment> {
        match self {
            Operation::CompleteCheckout { payment, .. } => Some(payment),
            _ => None,
        }
    }
}

/// What the platform's UCP profile says that the checkout needs later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// Where order events go (`dev.ucp.shopping.order` config `webhook_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// The body of a create or update. Every field is optional on update: an absent field keeps
/// what the checkout has. Fields this runtime does not read are ignored; `payment` instruments
/// and credentials are never taken from here (completion carries the payment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckoutRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_items: Option<Vec<LineItemRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<Buyer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment: Option<FulfillmentRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discounts: Option<DiscountsRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItemRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub item: ItemRequest,
    pub quantity: i64,
}

/// The product a line wants. A title or price sent along is ignored: the catalog decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRequest {
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentRequest {
    #[serde(default)]
    pub methods: Vec<MethodRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default = "shipping")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<DestinationRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_destination_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupRequest>>,
}

fn shipping() -> String {
    "shipping".to_owned()
}

/// An address the platform gives; without an id it gets one (a saved address's, when the
/// buyer has saved the same address before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub address: PostalAddress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_option_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountsRequest {
    #[serde(default)]
    pub codes: Vec<String>,
}

/// The part of a request's `payment` a checkout keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_instrument_id: Option<String>,
}

/// The body of `POST /checkout-sessions/{id}/complete`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompleteRequest {
    pub payment_data: crate::action::PaymentInstrument,
    #[serde(default)]
    pub risk_signals: Option<Value>,
}

/// What `PUT /orders/{id}` may change: the fulfillment events and the adjustments. The rest of
/// the order (lines, totals, expectations) is the merchant's and stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment: Option<FulfillmentUpdate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustments: Option<Vec<Adjustment>>,
}

impl OrderUpdate {
    /// Refuses quantities below 1 and negative amounts, which the types cannot.
    pub fn validate(&self) -> Result<(), String> {
        let events = self.fulfillment.iter().flat_map(|f| f.events.iter().flatten());
        let lines = events.flat_map(|e| &e.line_items).chain(
            self.adjustments
                .iter()
                .flatten()
                .flat_map(|a| a.line_items.iter().flatten()),
        );
        for line in lines {
            if line.quantity < 1 {
                return Err(format!("line {}: quantity must be at least 1", line.id));
            }
        }
        for adjustment in self.adjustments.iter().flatten() {
            if adjustment.amount.is_some_and(|a| a < 0) {
                return Err(format!("adjustment {}: amount must not be negative", adjustment.id));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<FulfillmentEvent>>,
}

/// The HTTP answer to an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

/// A REST error body: what UCP clients read (`detail`, `code`) and UCP `messages[]`.
pub fn error_body(code: &str, detail: &str) -> Value {
    serde_json::json!({
        "detail": detail,
        "code": code,
        "messages": [{"type": "error", "code": code, "content": detail, "severity": "recoverable"}],
    })
}
