//! The checkout state machine, pure: every function takes a checkout and returns the change,
//! so it can be tested without a database.
//!
//! `incomplete -> ready_for_complete -> completed`, and `canceled` from any open status.
//! Prices come from the catalog and the merchant's rules (`pricing`).
//! Every change of lines, buyer or address recalculates the totals and sends the checkout back
//! to `incomplete` (as the UCP sample does); `start_payment` moves it to `ready_for_complete`
//! when the buyer has an email and a shipping address; `complete_checkout` is accepted only from
//! `ready_for_complete`. A completed or canceled checkout refuses every change with a UCP
//! `messages[]` error.

use chrono::{DateTime, Utc};
use schemas::action::{CustomerDetails, PaymentInstrument, MAX_QUANTITY};
use schemas::ucp::{
    Buyer, Capability, Checkout, CheckoutStatus, Destination, Fulfillment, FulfillmentGroup, FulfillmentMethod,
    InstrumentSummary, Item, LineItem, OrderConfirmation, Payment, UcpMessage, UcpMeta, VERSION,
};
use serde_json::Value;
use store::catalog::Product;
use store::pricing::Rules;
use uuid::Uuid;

use super::pricing::recalculate;

/// Where orders can be looked at.
const ORDER_PERMALINK_BASE: &str = "https://example.com/order?id=";
/// Where a buyer can continue a checkout in a browser.
const CONTINUE_URL_BASE: &str = "https://example.com/checkout?id=";

/// Why a change was refused; rendered into the checkout's `messages[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub content: String,
}

impl Refusal {
    pub fn new(code: &'static str, content: impl Into<String>) -> Refusal {
        Refusal {
            code,
            content: content.into(),
        }
    }

    pub fn message(&self) -> UcpMessage {
        UcpMessage::error(self.code, self.content.clone())
    }
}

/// A new, empty checkout.
pub fn new_checkout(
    id: Uuid,
    capabilities: &[Capability],
    currency: &str,
    handlers: &[Value],
    expires_at: DateTime<Utc>,
    rules: &Rules,
) -> Checkout {
    let mut checkout = Checkout {
        ucp: UcpMeta {
            version: VERSION.to_owned(),
            capabilities: capabilities.to_vec(),
        },
        id: id.to_string(),
        line_items: Vec::new(),
        buyer: None,
        status: CheckoutStatus::Incomplete,
        currency: currency.to_owned(),
        totals: Vec::new(),
        messages: Vec::new(),
        links: Vec::new(),
        expires_at,
        continue_url: Some(format!("{CONTINUE_URL_BASE}{id}")),
        payment: Payment {
            handlers: handlers.to_vec(),
            selected_instrument_id: None,
            instruments: Vec::new(),
        },
        order: None,
        fulfillment: None,
        discounts: None,
    };
    recalculate(&mut checkout, rules);
    checkout
}

/// The refusal a completed or canceled checkout gives to any change.
pub fn refuse_closed(checkout: &Checkout) -> Refusal {
    Refusal::new(
        "checkout_closed",
        format!(
            "checkout {} is {} and cannot be changed",
            checkout.id,
            checkout.status.as_str()
        ),
    )
}

fn refuse_if_closed(checkout: &Checkout) -> Result<(), Refusal> {
    if checkout.status.is_closed() {
        return Err(refuse_closed(checkout));
    }
    Ok(())
}

/// Adds `quantity` of a product, to its line if it has one.
pub fn add_item(checkout: &mut Checkout, product: &Product, quantity: i64, rules: &Rules) -> Result<(), Refusal> {
    refuse_if_closed(checkout)?;
    match checkout.line_items.iter_mut().find(|line| line.item.id == product.id) {
        Some(line) if line.quantity + quantity > MAX_QUANTITY => {
            return Err(Refusal::new(
                "quantity_limit",
                format!(
                    "a line holds at most {MAX_QUANTITY}; {} already has {}, so {quantity} more is refused",
                    product.id, line.quantity
                ),
            ))
        }
        Some(line) => line.quantity += quantity,
        None => checkout.line_items.push(LineItem {
            id: Uuid::new_v4().simple().to_string(),
            item: Item {
                id: product.id.clone(),
                title: product.name.clone(),
                price: product.price_minor,
                image_url: product.image_url.clone(),
            },
            quantity,
            totals: Vec::new(),
        }),
    }
    changed(checkout, rules);
    Ok(())
}

/// Removes a product's line.
pub fn remove_item(checkout: &mut Checkout, product_id: &str, rules: &Rules) -> Result<(), Refusal> {
    refuse_if_closed(checkout)?;
    let before = checkout.line_items.len();
    checkout.line_items.retain(|line| line.item.id != product_id);
    if checkout.line_items.len() == before {
        return Err(not_in_checkout(product_id));
    }
    changed(checkout, rules);
    Ok(())
}

/// Sets a product's quantity; 0 removes the line.
pub fn set_quantity(checkout: &mut Checkout, product_id: &str, quantity: i64, rules: &Rules) -> Result<(), Refusal> {
    refuse_if_closed(checkout)?;
    if quantity == 0 {
        return remove_item(checkout, product_id, rules);
    }
    let line = checkout
        .line_items
        .iter_mut()
        .find(|line| line.item.id == product_id)
        .ok_or_else(|| not_in_checkout(product_id))?;
    line.quantity = quantity;
    changed(checkout, rules);
    Ok(())
}

fn not_in_checkout(product_id: &str) -> Refusal {
    Refusal::new("item_not_found", format!("product {product_id} is not in the checkout"))
}

/// Sets the buyer and the shipping address (the cheapest shipping option selected), then
/// starts payment.
pub fn update_customer(checkout: &mut Checkout, details: &CustomerDetails, rules: &Rules) -> Result<(), Refusal> {
    refuse_if_closed(checkout)?;
    let kept = checkout.buyer.take().unwrap_or_default();
    checkout.buyer = Some(Buyer {
        first_name: Some(details.first_name.clone()),
        last_name: Some(details.last_name.clone()),
        email: details.email.clone().or(kept.email),
        extra: kept.extra,
    });
    let destination_id = format!("dest_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let line_item_ids: Vec<String> = checkout.line_items.iter().map(|line| line.id.clone()).collect();
    checkout.fulfillment = Some(Fulfillment {
        methods: vec![FulfillmentMethod {
            id: format!("method_{}", &Uuid::new_v4().simple().to_string()[..8]),
            kind: "shipping".to_owned(),
            line_item_ids: line_item_ids.clone(),
            destinations: Some(vec![Destination {
                id: destination_id.clone(),
                address: details.address(),
            }]),
            selected_destination_id: Some(destination_id),
            groups: vec![FulfillmentGroup {
                id: format!("package_{}", &Uuid::new_v4().simple().to_string()[..8]),
                line_item_ids,
                options: Vec::new(),
                selected_option_id: None,
            }],
        }],
    });
    changed(checkout, rules);
    select_cheapest_options(checkout, rules);
    start_payment(checkout, rules)
}

/// Selects the first (cheapest) option of every shipping group that has options and no
/// selection.
fn select_cheapest_options(checkout: &mut Checkout, rules: &Rules) {
    let groups = checkout.fulfillment.iter_mut().flat_map(|f| &mut f.methods).flat_map(|m| &mut m.groups);
    for group in groups {
        if group.selected_option_id.is_none() {
            group.selected_option_id = group.options.first().map(|o| o.id.clone());
        }
    }
    recalculate(checkout, rules);
}

/// Moves the checkout to `ready_for_complete` if it has lines, a buyer email and an address.
pub fn start_payment(checkout: &mut Checkout, rules: &Rules) -> Result<(), Refusal> {
    refuse_if_closed(checkout)?;
    if checkout.status == CheckoutStatus::ReadyForComplete {
        return Ok(());
    }
    let mut missing = Vec::new();
    if checkout.line_items.is_empty() {
        missing.push("add at least one product");
    }
    if checkout.buyer.as_ref().and_then(|b| b.email.as_deref()).is_none() {
        missing.push("provide a buyer email address");
    }
    if checkout.fulfillment.is_none() {
        missing.push("provide a shipping address");
    }
    if !missing.is_empty() {
        return Err(Refusal::new(
            "missing_information",
            format!("To start payment, {}.", missing.join("; ")),
        ));
    }
    recalculate(checkout, rules);
    checkout.status = CheckoutStatus::ReadyForComplete;
    checkout.messages.clear();
    Ok(())
}

/// Refuses a completion the checkout cannot take: it is closed, not `ready_for_complete`, or
/// the instrument names a handler it does not offer. Checked before the payment is authorised.
pub fn completable(checkout: &Checkout, instrument: &PaymentInstrument) -> Result<(), Refusal> {
    refuse_if_closed(checkout)?;
    if checkout.status != CheckoutStatus::ReadyForComplete {
        return Err(Refusal::new(
            "checkout_not_ready",
            format!(
                "checkout is {}, not ready_for_complete; call start_payment (with buyer details) first",
                checkout.status.as_str()
            ),
        ));
    }
    let handler_known = checkout
        .payment
        .handlers
        .iter()
        .any(|h| h.get("id").and_then(Value::as_str) == Some(&instrument.handler_id));
    if !handler_known {
        return Err(Refusal::new(
            "payment_handler_unknown",
            format!(
                "payment handler {} is not offered by this merchant",
                instrument.handler_id
            ),
        ));
    }
    Ok(())
}

/// Places the order: only from `ready_for_complete`, after the payment was authorised. The
/// checkout keeps a summary of the instrument, never its credential.
pub fn complete(checkout: &mut Checkout, instrument: &PaymentInstrument) -> Result<OrderConfirmation, Refusal> {
    completable(checkout, instrument)?;
    let order = OrderConfirmation {
        id: format!("ORD-{}", checkout.id),
        permalink_url: format!("{ORDER_PERMALINK_BASE}ORD-{}", checkout.id),
    };
    checkout.payment.instruments = vec![InstrumentSummary {
        id: instrument.id.clone(),
        handler_id: instrument.handler_id.clone(),
        kind: instrument.kind.clone(),
        brand: instrument.brand.clone(),
        last_digits: instrument.last_digits.clone(),
    }];
    checkout.payment.selected_instrument_id = Some(instrument.id.clone());
    checkout.status = CheckoutStatus::Completed;
    checkout.order = Some(order.clone());
    checkout.messages.clear();
    Ok(order)
}

/// Cancels an open checkout.
pub fn cancel(checkout: &mut Checkout) -> Result<(), Refusal> {
    refuse_if_closed(checkout)?;
    checkout.status = CheckoutStatus::Canceled;
    checkout.messages.clear();
    Ok(())
}

/// Closes a checkout whose expiry has passed.
pub fn expire(checkout: &mut Checkout) {
    checkout.status = CheckoutStatus::Canceled;
    checkout.messages = vec![UcpMessage::error(
        "checkout_expired",
        format!("checkout {} expired at {}", checkout.id, checkout.expires_at),
    )];
}

fn changed(checkout: &mut Checkout, rules: &Rules) {
    checkout.status = CheckoutStatus::Incomplete;
    checkout.messages.clear();
    recalculate(checkout, rules);
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    fn cookies() -> Product {
        Product {
            id: "BISC-001".into(),
            name: "Cookies".into(),
            price_minor: 499,
            currency: "USD".into(),
            image_url: None,
            stocked: false,
        }
    }

    fn rules() -> Rules {
        super::super::pricing::tests::rules()
    }

    pub fn checkout() -> Checkout {
        let handlers = vec![json!({"id": "example_payment_provider"})];
        new_checkout(Uuid::new_v4(), &[], "USD", &handlers, Utc::now(), &rules())
    }

    fn details(email: Option<&str>) -> CustomerDetails {
        CustomerDetails {
            first_name: "Jane".into(),
            last_name: "Doe".into(),
            street_address: "1 Main St".into(),
            extended_address: None,
            address_locality: "Springfield".into(),
            address_region: "IL".into(),
            postal_code: "62701".into(),
            address_country: "US".into(),
            email: email.map(str::to_owned),
        }
    }

    fn instrument() -> PaymentInstrument {
        PaymentInstrument {
            id: "instr_1".into(),
            handler_id: "example_payment_provider".into(),
            kind: "card".into(),
            brand: Some("visa".into()),
            last_digits: Some("4242".into()),
            credential: Some(json!({"token": "tok_secret"})),
        }
    }

    #[test]
    fn adding_twice_sums_on_one_line() {
        let mut c = checkout();
        add_item(&mut c, &cookies(), 1, &rules()).unwrap();
        add_item(&mut c, &cookies(), 2, &rules()).unwrap();
        assert_eq!(c.line_items.len(), 1);
        assert_eq!(c.line_items[0].quantity, 3);
        assert_eq!(c.total("total"), Some(1497));
    }

    #[test]
    fn repeated_adds_cannot_pass_the_quantity_cap() {
        let mut c = checkout();
        add_item(&mut c, &cookies(), MAX_QUANTITY, &rules()).unwrap();
        let before = c.clone();
        assert_eq!(add_item(&mut c, &cookies(), 1, &rules()).unwrap_err().code, "quantity_limit");
        assert_eq!(c, before, "a refused add changes nothing");
    }

    #[test]
    fn quantity_zero_removes_the_line() {
        let mut c = checkout();
        add_item(&mut c, &cookies(), 2, &rules()).unwrap();
        set_quantity(&mut c, "BISC-001", 0, &rules()).unwrap();
        assert!(c.line_items.is_empty());
        assert_eq!(c.total("total"), Some(0));
    }

    #[test]
    fn shipping_and_tax_apply_once_an_option_is_selected() {
        let mut c = checkout();
        add_item(&mut c, &cookies(), 2, &rules()).unwrap();
        update_customer(&mut c, &details(Some("jane@example.com")), &rules()).unwrap();
        assert_eq!(c.status, CheckoutStatus::ReadyForComplete);
        assert_eq!(c.total("fulfillment"), Some(500));
        assert_eq!(c.total("tax"), Some(100));
        assert_eq!(c.total("total"), Some(998 + 500 + 100));
        let group = &c.fulfillment.as_ref().unwrap().methods[0].groups[0];
        assert_eq!(
            group.line_item_ids,
            vec![c.line_items[0].id.clone()],
            "line item ids, not product ids"
        );
    }

    #[test]
    fn start_payment_without_email_is_refused() {
        let mut c = checkout();
        add_item(&mut c, &cookies(), 1, &rules()).unwrap();
        let refusal = update_customer(&mut c, &details(None), &rules()).unwrap_err();
        assert_eq!(refusal.code, "missing_information");
        assert_eq!(c.status, CheckoutStatus::Incomplete);
    }

    #[test]
    fn completion_only_from_ready_for_complete() {
        let mut c = checkout();
        add_item(&mut c, &cookies(), 1, &rules()).unwrap();
        assert_eq!(complete(&mut c, &instrument()).unwrap_err().code, "checkout_not_ready");
        update_customer(&mut c, &details(Some("jane@example.com")), &rules()).unwrap();
        let order = complete(&mut c, &instrument()).unwrap();
        assert_eq!(order.id, format!("ORD-{}", c.id));
        assert_eq!(c.status, CheckoutStatus::Completed);
        assert!(!serde_json::to_string(&c).unwrap().contains("tok_secret"));
    }

    #[test]
    fn closed_checkouts_refuse_changes() {
        let mut c = checkout();
        add_item(&mut c, &cookies(), 1, &rules()).unwrap();
        cancel(&mut c).unwrap();
        assert_eq!(add_item(&mut c, &cookies(), 1, &rules()).unwrap_err().code, "checkout_closed");
        assert_eq!(set_quantity(&mut c, "BISC-001", 3, &rules()).unwrap_err().code, "checkout_closed");
        assert_eq!(cancel(&mut c).unwrap_err().code, "checkout_closed");
    }

    #[test]
    fn a_change_after_start_payment_sends_the_checkout_back_to_incomplete() {
        let mut c = checkout();
        add_item(&mut c, &cookies(), 1, &rules()).unwrap();
        update_customer(&mut c, &details(Some("jane@example.com")), &rules()).unwrap();
        add_item(&mut c, &cookies(), 1, &rules()).unwrap();
        assert_eq!(c.status, CheckoutStatus::Incomplete);
        assert_eq!(complete(&mut c, &instrument()).unwrap_err().code, "checkout_not_ready");
    }
}
