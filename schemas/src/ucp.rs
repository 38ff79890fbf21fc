//! UCP 2026-01-11 shopping objects: the checkout document the agent returns under
//! `a2a.ucp.checkout`, with money in integer minor units (cents).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The UCP version this merchant speaks.
pub const VERSION: &str = "2026-01-11";
/// The A2A extension URI that marks a UCP request (`X-A2A-Extensions`).
pub const EXTENSION_URI: &str = "https://ucp.dev/specification/reference?v=2026-01-11";
/// DataPart key of a checkout in agent messages.
pub const CHECKOUT_KEY: &str = "a2a.ucp.checkout";
/// DataPart key of search results in agent messages.
pub const PRODUCT_RESULTS_KEY: &str = "a2a.product_results";
/// DataPart keys a client may use for the payment instrument at completion.
pub const PAYMENT_DATA_KEYS: [&str; 2] = ["a2a.ucp.checkout.payment_data", "a2a.ucp.checkout.payment"];
/// DataPart key of risk signals at completion.
pub const RISK_SIGNALS_KEY: &str = "a2a.ucp.checkout.risk_signals";

/// A capability as profiles list it: negotiated as the exact (name, version) intersection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
}

/// The `ucp` block of a checkout: version and the capabilities negotiated for this client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcpMeta {
    pub version: String,
    pub capabilities: Vec<Capability>,
}

/// Checkout status as UCP defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStatus {
    Incomplete,
    RequiresEscalation,
    ReadyForComplete,
    CompleteInProgress,
    Completed,
    Canceled,
}

impl CheckoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutStatus::Incomplete => "incomplete",
            CheckoutStatus::RequiresEscalation => "requires_escalation",
            CheckoutStatus::ReadyForComplete => "ready_for_complete",
            CheckoutStatus::CompleteInProgress => "complete_in_progress",
            CheckoutStatus::Completed => "completed",
            CheckoutStatus::Canceled => "canceled",
        }
    }

    /// A completed or canceled checkout refuses every change.
    pub fn is_closed(self) -> bool {
        matches!(self, CheckoutStatus::Completed | CheckoutStatus::Canceled)
    }
}

/// One amount of a totals list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    #[serde(rename = "type")]
    pub kind: String,
    pub display_text: String,
    pub amount: i64,
}

impl Total {
    pub fn new(kind: &str, display_text: &str, amount: i64) -> Total {
        Total {
            kind: kind.to_owned(),
            display_text: display_text.to_owned(),
            amount,
        }
    }
}

/// The product a line item refers to, priced in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub title: String,
    pub price: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub id: String,
    pub item: Item,
    pub quantity: i64,
    pub totals: Vec<Total>,
}

/// The buyer; fields this runtime does not use (consent, phone, ...) are kept as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A buyer-facing message; errors for the buyer travel here, not as protocol errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UcpMessage {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub content: String,
    pub severity: String,
}

impl UcpMessage {
    /// An error the buyer can fix (`severity: recoverable`).
    pub fn error(code: &str, content: impl Into<String>) -> UcpMessage {
        UcpMessage {
            kind: "error".into(),
            code: code.into(),
            content: content.into(),
            severity: "recoverable".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

/// A shipping address, as schema.org PostalAddress fields. A platform may send only some of
/// them (a country to quote shipping for); fields this runtime does not use (`full_name`, ...)
/// are kept as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_country: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub id: String,
    #[serde(flatten)]
    pub address: PostalAddress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentOption {
    pub id: String,
    pub title: String,
    pub description: String,
    pub carrier: String,
    pub totals: Vec<Total>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentGroup {
    pub id: String,
    pub line_item_ids: Vec<String>,
    pub options: Vec<FulfillmentOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_option_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentMethod {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub line_item_ids: Vec<String>,
    /// `None` (null on the wire) until the platform gives an address or the buyer has saved ones.
    pub destinations: Option<Vec<Destination>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_destination_id: Option<String>,
    pub groups: Vec<FulfillmentGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    pub methods: Vec<FulfillmentMethod>,
}

/// The payment instrument as the checkout shows it: never the credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentSummary {
    pub id: String,
    pub handler_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_digits: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub handlers: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_instrument_id: Option<String>,
    #[serde(default)]
    pub instruments: Vec<InstrumentSummary>,
}

/// A discount code the checkout applied, and what it took off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedDiscount {
    pub code: String,
    pub title: String,
    pub amount: i64,
}

/// The codes the buyer entered, in order, and the ones that applied (unknown codes do not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discounts {
    pub codes: Vec<String>,
    pub applied: Vec<AppliedDiscount>,
}

/// The order a completed checkout produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmation {
    pub id: String,
    pub permalink_url: String,
}

/// The UCP checkout session document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkout {
    pub ucp: UcpMeta,
    pub id: String,
    pub line_items: Vec<LineItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<Buyer>,
    pub status: CheckoutStatus,
    pub currency: String,
    pub totals: Vec<Total>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<UcpMessage>,
    pub links: Vec<Link>,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_url: Option<String>,
    pub payment: Payment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderConfirmation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment: Option<Fulfillment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discounts: Option<Discounts>,
}

/// A line's quantity reference in order expectations, events and adjustments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineQuantity {
    pub id: String,
    pub quantity: i64,
}

/// How much of an order line was ordered, and how much has shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderQuantity {
    pub total: i64,
    pub fulfilled: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineItem {
    pub id: String,
    pub item: Item,
    pub quantity: OrderQuantity,
    pub totals: Vec<Total>,
    /// `processing`, `partial` or `fulfilled`.
    pub status: String,
}

/// What the buyer was promised: which lines go where, how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    pub id: String,
    pub line_items: Vec<LineQuantity>,
    /// `shipping`, `pickup` or `digital`.
    pub method_type: String,
    pub destination: PostalAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillable_on: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Something that happened to an order's goods (`shipped`, `delivered`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentEvent {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: String,
    pub line_items: Vec<LineQuantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentStatus {
    Pending,
    Completed,
    Failed,
}

/// A change to an order after it was placed (a refund, a return, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub status: AdjustmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_items: Option<Vec<LineQuantity>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFulfillment {
    pub expectations: Vec<Expectation>,
    pub events: Vec<FulfillmentEvent>,
}

/// The UCP order a completed checkout placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub ucp: UcpMeta,
    pub id: String,
    pub checkout_id: String,
    pub permalink_url: String,
    pub line_items: Vec<OrderLineItem>,
    pub fulfillment: OrderFulfillment,
    pub adjustments: Option<Vec<Adjustment>>,
    pub totals: Vec<Total>,
}

impl Checkout {
    /// The amount of the totals entry of the given type, if present.
    pub fn total(&self, kind: &str) -> Option<i64> {
        self.totals.iter().find(|t| t.kind == kind).map(|t| t.amount)
    }
}

/// Converts a catalog price such as `"4.99"` (major units) into minor units, exactly.
pub fn parse_price_minor(price: &str) -> Option<i64> {
    let (whole, frac) = match price.trim().split_once('.') {
        Some((whole, frac)) => (whole, frac),
        None => (price.trim(), ""),
    };
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_convert_to_exact_cents() {
        assert_eq!(parse_price_minor("4.99"), Some(499));
        assert_eq!(parse_price_minor("5"), Some(500));
        assert_eq!(parse_price_minor("0.5"), Some(50));
        assert_eq!(parse_price_minor("4.999"), None);
        assert_eq!(parse_price_minor("-1.00"), None);
        assert_eq!(parse_price_minor("abc"), None);
    }
}
