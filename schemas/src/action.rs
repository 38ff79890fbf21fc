//! The commerce actions a message can carry, and their validation.
//!
//! A message runs an action directly, with no LLM, when it has a DataPart
//! `{"action": "<name>", ...parameters}` or a text part whose whole text is such a JSON object
//! (the UCP sample's chat client sends those). Any other text is a chat turn for the agent.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::a2a::{Message, Part};
use crate::ucp::{PostalAddress, PAYMENT_DATA_KEYS, RISK_SIGNALS_KEY};

/// The largest quantity one line may hold.
pub const MAX_QUANTITY: i64 = 10_000;
/// The longest free-text field (query, names, address lines) accepted, in bytes.
pub const MAX_FIELD_LEN: usize = 512;
/// The longest chat text accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 16 * 1024;

/// What one turn asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "turn", rename_all = "snake_case")]
pub enum Turn {
    /// A deterministic commerce action.
    Action { action: Action },
    /// Free text for the agent (typed card numbers masked). Payment data sent with it is for
    /// the agent's `complete_checkout` tool in this turn only: it never reaches the model.
    Chat {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payment: Option<Payment>,
    },
    /// A UCP REST binding operation (only the REST binding queues these).
    Rest { operation: crate::rest::Operation },
}

/// The payment a message carries for completing the checkout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub instrument: PaymentInstrument,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_signals: Option<Value>,
}

/// The key under which a queued instrument's credential holds its sealed form.
pub const SEALED_KEY: &str = "sealed";

impl Payment {
    /// The credential as sealed by the ingress (see the `vault` crate), if it is.
    pub fn sealed_credential(&self) -> Option<&str> {
        self.instrument.credential.as_ref()?.get(SEALED_KEY)?.as_str()
    }

    /// Puts the sealed form in place of the credential.
    pub fn set_sealed_credential(&mut self, sealed: &str) {
        self.instrument.credential = Some(serde_json::json!({ SEALED_KEY: sealed }));
    }

    /// Fills `last_digits` from a card number in the credential when the client left it out,
    /// so the checkout can show which card paid once the credential is gone.
    pub fn fill_last_digits(&mut self) {
        if self.instrument.last_digits.is_some() {
            return;
        }
        let number = self.instrument.credential.as_ref().and_then(|c| {
            ["number", "card_number", "pan"]
                .iter()
                .find_map(|key| c.get(*key).and_then(Value::as_str))
        });
        if let Some(number) = number {
            let digits: String = number.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 12 {
                self.instrument.last_digits = Some(digits[digits.len() - 4..].to_owned());
            }
        }
    }

    fn redact_secrets(&mut self) {
        if let Some(credential) = &mut self.instrument.credential {
            *credential = Value::String(crate::redact::REDACTED.to_owned());
        }
        if let Some(signals) = &mut self.risk_signals {
            crate::redact::redact_secrets(signals);
        }
    }
}

impl Turn {
    /// The payment the turn carries, if any.
    pub fn payment_mut(&mut self) -> Option<&mut Payment> {
        match self {
            Turn::Action {
                action: Action::CompleteCheckout { payment },
            } => Some(payment),
            Turn::Chat { payment, .. } => payment.as_mut(),
            Turn::Rest { operation } => operation.payment_mut(),
            Turn::Action { .. } => None,
        }
    }

    /// Replaces payment credentials, and secrets inside free-form values, with
    /// [`crate::redact::REDACTED`] and masks typed card numbers, as `redact_secrets` does for
    /// the stored message: the turn then may be queued.
    pub fn redact_secrets(&mut self) {
        if let Turn::Chat { text, .. } = self {
            if let std::borrow::Cow::Owned(masked) = crate::redact::mask_card_numbers(text) {
                *text = masked;
            }
        }
        if let Some(payment) = self.payment_mut() {
            payment.redact_secrets();
        }
    }
}

/// A commerce action with its validated parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    SearchShoppingCatalog {
        query: String,
    },
    AddToCheckout {
        product_id: String,
        quantity: i64,
    },
    RemoveFromCheckout {
        product_id: String,
    },
    /// Sets a line's quantity; 0 removes the line.
    UpdateCheckout {
        product_id: String,
        quantity: i64,
    },
    GetCheckout,
    StartPayment,
    /// Sets buyer and shipping address, then runs `start_payment`.
    UpdateCustomerDetails(CustomerDetails),
    CompleteCheckout {
        #[serde(flatten)]
        payment: Payment,
    },
    CancelCheckout,
}

impl Action {
    /// The action's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Action::SearchShoppingCatalog { .. } => "search_shopping_catalog",
            Action::AddToCheckout { .. } => "add_to_checkout",
            Action::RemoveFromCheckout { .. } => "remove_from_checkout",
            Action::UpdateCheckout { .. } => "update_checkout",
            Action::GetCheckout => "get_checkout",
            Action::StartPayment => "start_payment",
            Action::UpdateCustomerDetails(_) => "update_customer_details",
            Action::CompleteCheckout { .. } => "complete_checkout",
            Action::CancelCheckout => "cancel_checkout",
        }
    }

    /// The product this action names, which must exist in the catalog.
    pub fn product_id(&self) -> Option<&str> {
        match self {
            Action::AddToCheckout { product_id, .. }
            | Action::RemoveFromCheckout { product_id }
            | Action::UpdateCheckout { product_id, .. } => Some(product_id),
            _ => None,
        }
    }
}

/// Every action name, for error messages and the agent's help text.
pub const ACTION_NAMES: [&str; 9] = [
    "search_shopping_catalog",
    "add_to_checkout",
    "remove_from_checkout",
    "update_checkout",
    "get_checkout",
    "start_payment",
    "update_customer_details",
    "complete_checkout",
    "cancel_checkout",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerDetails {
    pub first_name: String,
    pub last_name: String,
    pub street_address: String,
    #[serde(default)]
    pub extended_address: Option<String>,
    pub address_locality: String,
    pub address_region: String,
    pub postal_code: String,
    #[serde(default = "default_country")]
    pub address_country: String,
    #[serde(default)]
    pub email: Option<String>,
}

fn default_country() -> String {
    "US".to_owned()
}

impl CustomerDetails {
    pub fn address(&self) -> PostalAddress {
        PostalAddress {
            street_address: Some(self.street_address.clone()),
            extended_address: self.extended_address.clone(),
            address_locality: Some(self.address_locality.clone()),
            address_region: Some(self.address_region.clone()),
            postal_code: Some(self.postal_code.clone()),
            address_country: Some(self.address_country.clone()),
            extra: Default::default(),
        }
    }

    fn fields(&self) -> [(&'static str, Option<&str>); 9] {
        [
            ("first_name", Some(&self.first_name)),
            ("last_name", Some(&self.last_name)),
            ("street_address", Some(&self.street_address)),
            ("extended_address", self.extended_address.as_deref()),
            ("address_locality", Some(&self.address_locality)),
            ("address_region", Some(&self.address_region)),
            ("postal_code", Some(&self.postal_code)),
            ("address_country", Some(&self.address_country)),
            ("email", self.email.as_deref()),
        ]
    }
}

/// A payment instrument as the client sends it at completion. The `credential` is secret: it
/// is never logged, never stored in task history and never returned.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentInstrument {
    pub id: String,
    pub handler_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub last_digits: Option<String>,
    #[serde(default)]
    pub credential: Option<Value>,
}

impl std::fmt::Debug for PaymentInstrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentInstrument")
            .field("id", &self.id)
            .field("handler_id", &self.handler_id)
            .field("kind", &self.kind)
            .field("brand", &self.brand)
            .field("last_digits", &self.last_digits)
            .field("credential", &self.credential.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Why a message does not make a valid turn. Each renders as JSON-RPC -32602.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("the message has no text and no action")]
    Empty,
    #[error("unknown action {0:?}; known actions: {list}", list = ACTION_NAMES.join(", "))]
    UnknownAction(String),
    #[error("\"action\" must be a string")]
    ActionNotString,
    #[error("invalid parameters for {action}: {reason}")]
    Params { action: &'static str, reason: String },
    #[error("quantity must be between {min} and {MAX_QUANTITY}, got {got}")]
    Quantity { min: i64, got: i64 },
    #[error("{field} must not be empty")]
    EmptyField { field: &'static str },
    #[error("{field} is longer than {MAX_FIELD_LEN} bytes")]
    FieldTooLong { field: &'static str },
    #[error("text is longer than {MAX_TEXT_LEN} bytes")]
    TextTooLong,
    #[error("complete_checkout needs a payment instrument in a DataPart keyed a2a.ucp.checkout.payment_data")]
    MissingPayment,
    #[error("invalid payment instrument: {0}")]
    Payment(String),
    #[error("invalid REST operation: {0}")]
    Rest(String),
}

/// Reads the turn a user message asks for.
pub fn parse_turn(message: &Message) -> Result<Turn, ActionError> {
    for part in &message.parts {
        if let Part::Data { data, .. } = part {
            if let Some(operation) = data.get(crate::rest::OPERATION_KEY) {
                let operation = serde_json::from_value(operation.clone()).map_err(|e| ActionError::Rest(e.to_string()))?;
                return Ok(Turn::Rest { operation });
            }
        }
        let object = match part {
            Part::Data { data, .. } if data.contains_key("action") => Some(data.clone()),
            Part::Text { text, .. } => action_object_in_text(text),
            _ => None,
        };
        if let Some(object) = object {
            let action = parse_action(object, &|| payment(message))?;
            return Ok(Turn::Action { action });
        }
    }
    let text: Vec<&str> = message
        .parts
        .iter()
        .filter_map(|part| match part {
            Part::Text { text, .. } if !text.trim().is_empty() => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if text.is_empty() {
        return Err(ActionError::Empty);
    }
    let text = text.join("\n");
    if text.len() > MAX_TEXT_LEN {
        return Err(ActionError::TextTooLong);
    }
    let payment = match payment_data(message) {
        Some(_) => Some(payment(message)?),
        None => None,
    };
    let text = crate::redact::mask_card_numbers(&text).into_owned();
    Ok(Turn::Chat { text, payment })
}

fn action_object_in_text(text: &str) -> Option<Map<String, Value>> {
    let trimmed = text.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(map)) if map.contains_key("action") => Some(map),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryParams {
    query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductQuantity {
    product_id: String,
    #[serde(default, deserialize_with = "whole_number")]
    quantity: Option<i64>,
}

/// Accepts `2` and `2.0`: protobuf-based clients (a2a-sdk 1.x) send every number as a double.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!("expected a whole number, got {number}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductOnly {
    product_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

fn params<T: DeserializeOwned>(action: &'static str, map: Map<String, Value>) -> Result<T, ActionError> {
    serde_json::from_value(Value::Object(map)).map_err(|e| ActionError::Params {
        action,
        reason: e.to_string(),
    })
}

/// The action a model's tool call asks for, validated as a client's action is. A
/// `complete_checkout` call pays with the payment that came with the turn's message, if any.
pub fn action_from_call(name: &str, args: &Map<String, Value>, payment: Option<&Payment>) -> Result<Action, ActionError> {
    let mut map = args.clone();
    map.insert("action".to_owned(), Value::String(name.to_owned()));
    parse_action(map, &|| payment.cloned().ok_or(ActionError::MissingPayment))
}

fn parse_action(mut map: Map<String, Value>, payment: &dyn Fn() -> Result<Payment, ActionError>) -> Result<Action, ActionError> {
    let name = match map.remove("action") {
        Some(Value::String(name)) => name,
        _ => return Err(ActionError::ActionNotString),
    };
    let action = match name.as_str() {
        "search_shopping_catalog" => {
            let p: QueryParams = params("search_shopping_catalog", map)?;
            check_field("query", &p.query)?;
            Action::SearchShoppingCatalog { query: p.query }
        }
        "add_to_checkout" => {
            let p: ProductQuantity = params("add_to_checkout", map)?;
            check_field("product_id", &p.product_id)?;
            let quantity = p.quantity.unwrap_or(1);
            check_quantity(1, quantity)?;
            Action::AddToCheckout {
                product_id: p.product_id,
                quantity,
            }
        }
        "remove_from_checkout" => {
            let p: ProductOnly = params("remove_from_checkout", map)?;
            check_field("product_id", &p.product_id)?;
            Action::RemoveFromCheckout {
                product_id: p.product_id,
            }
        }
        "update_checkout" => {
            let p: ProductQuantity = params("update_checkout", map)?;
            check_field("product_id", &p.product_id)?;
            let quantity = p.quantity.ok_or_else(|| ActionError::Params {
                action: "update_checkout",
                reason: "missing field `quantity`".into(),
            })?;
            check_quantity(0, quantity)?;
            Action::UpdateCheckout {
                product_id: p.product_id,
                quantity,
            }
        }
        "get_checkout" => {
            params::<NoParams>("get_checkout", map)?;
            Action::GetCheckout
        }
        "start_payment" => {
            params::<NoParams>("start_payment", map)?;
            Action::StartPayment
        }
        "update_customer_details" => {
            let details: CustomerDetails = params("update_customer_details", map)?;
            for (field, value) in details.fields() {
                if let Some(value) = value {
                    check_field(field, value)?;
                }
            }
            Action::UpdateCustomerDetails(details)
        }
        "complete_checkout" => {
            params::<NoParams>("complete_checkout", map)?;
            Action::CompleteCheckout { payment: payment()? }
        }
        "cancel_checkout" => {
            params::<NoParams>("cancel_checkout", map)?;
            Action::CancelCheckout
        }
        _ => return Err(ActionError::UnknownAction(truncate(&name, 64))),
    };
    Ok(action)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn check_field(field: &'static str, value: &str) -> Result<(), ActionError> {
    if value.trim().is_empty() {
        return Err(ActionError::EmptyField { field });
    }
    if value.len() > MAX_FIELD_LEN {
        return Err(ActionError::FieldTooLong { field });
    }
    Ok(())
}

fn check_quantity(min: i64, got: i64) -> Result<(), ActionError> {
    if got < min || got > MAX_QUANTITY {
        return Err(ActionError::Quantity { min, got });
    }
    Ok(())
}

fn data_part<'a>(message: &'a Message, key: &str) -> Option<&'a Value> {
    message.parts.iter().find_map(|part| match part {
        Part::Data { data, .. } => data.get(key),
        _ => None,
    })
}

fn payment_data(message: &Message) -> Option<&Value> {
    PAYMENT_DATA_KEYS.iter().find_map(|key| data_part(message, key))
}

fn payment(message: &Message) -> Result<Payment, ActionError> {
    Ok(Payment {
        instrument: payment_instrument(message)?,
        risk_signals: data_part(message, RISK_SIGNALS_KEY).cloned(),
    })
}

fn payment_instrument(message: &Message) -> Result<PaymentInstrument, ActionError> {
    let value = payment_data(message).ok_or(ActionError::MissingPayment)?;
    // The newer `a2a.ucp.checkout.payment` key carries a payment object with instruments.
    let value = match value.get("instruments").and_then(Value::as_array) {
        Some(instruments) => {
            let selected = value.get("selected_instrument_id").and_then(Value::as_str);
            instruments
                .iter()
                .find(|i| selected.is_some() && i.get("id").and_then(Value::as_str) == selected)
                .or_else(|| instruments.first())
                .ok_or(ActionError::MissingPayment)?
        }
        None => value,
    };
    let instrument: PaymentInstrument = serde_json::from_value(value.clone())
        .map_err(|e| ActionError::Payment(crate::redact::describe_serde_error(&e)))?;
    check_field("payment.id", &instrument.id)?;
    check_field("payment.handler_id", &instrument.handler_id)?;
    Ok(instrument)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::a2a::{MessageKind, Role};
    use serde_json::json;

    fn message(parts: Vec<Part>) -> Message {
        Message {
            kind: MessageKind::Message,
            message_id: "m".into(),
            role: Role::User,
            parts,
            context_id: None,
            task_id: None,
            reference_task_ids: None,
            extensions: None,
            metadata: None,
        }
    }

    fn data(value: Value) -> Part {
        Part::data(value.as_object().unwrap().clone())
    }

    #[test]
    fn data_part_action_is_parsed() {
        let m = message(vec![data(
            json!({"action":"add_to_checkout","product_id":"BISC-001","quantity":2}),
        )]);
        assert_eq!(
            parse_turn(&m).unwrap(),
            Turn::Action {
                action: Action::AddToCheckout {
                    product_id: "BISC-001".into(),
                    quantity: 2
                }
            }
        );
    }

    #[test]
    fn text_holding_a_json_action_is_an_action() {
        let m = message(vec![Part::text(r#" {"action":"get_checkout"} "#)]);
        assert_eq!(
            parse_turn(&m).unwrap(),
            Turn::Action {
                action: Action::GetCheckout
            }
        );
    }

    #[test]
    fn plain_text_is_chat() {
        let m = message(vec![Part::text("show me cookies")]);
        assert_eq!(
            parse_turn(&m).unwrap(),
            Turn::Chat {
                text: "show me cookies".into(),
                payment: None,
            }
        );
    }

    #[test]
    fn chat_keeps_its_payment_for_the_turn_and_masks_typed_cards() {
        let m = message(vec![
            Part::text("pay with 4111 1111 1111 1111 please"),
            data(
                json!({"a2a.ucp.checkout.payment_data": {"id":"i1","handler_id":"h","type":"card",
                "credential":{"type":"token","token":"tok_secret"}}}),
            ),
        ]);
        let mut turn = parse_turn(&m).unwrap();
        let Turn::Chat { text, payment } = &turn else {
            panic!("expected chat");
        };
        assert_eq!(text, "pay with [card ending 1111] please");
        assert_eq!(payment.as_ref().map(|p| p.instrument.id.as_str()), Some("i1"));
        turn.redact_secrets();
        let queued = serde_json::to_string(&turn).unwrap();
        assert!(!queued.contains("tok_secret"), "{queued}");
    }

    #[test]
    fn quantities_out_of_range_are_refused() {
        for (action, q, min) in [
            ("add_to_checkout", 0, 1),
            ("add_to_checkout", -1, 1),
            ("update_checkout", -3, 0),
            ("update_checkout", 10_001, 0),
        ] {
            let m = message(vec![data(json!({"action":action,"product_id":"X","quantity":q}))]);
            assert_eq!(
                parse_turn(&m),
                Err(ActionError::Quantity { min, got: q }),
                "{action} {q}"
            );
        }
        let m = message(vec![data(
            json!({"action":"update_checkout","product_id":"X","quantity":0}),
        )]);
        assert!(parse_turn(&m).is_ok(), "update_checkout to 0 removes the line");
    }

    #[test]
    fn whole_floats_are_quantities_and_fractions_are_not() {
        let m = message(vec![data(
            json!({"action":"add_to_checkout","product_id":"X","quantity":2.0}),
        )]);
        assert_eq!(
            parse_turn(&m).unwrap(),
            Turn::Action {
                action: Action::AddToCheckout {
                    product_id: "X".into(),
                    quantity: 2
                }
            }
        );
        let m = message(vec![data(
            json!({"action":"add_to_checkout","product_id":"X","quantity":1.5}),
        )]);
        assert!(matches!(parse_turn(&m), Err(ActionError::Params { .. })));
    }

    #[test]
    fn wrong_types_and_unknown_fields_are_refused() {
        let m = message(vec![data(
            json!({"action":"add_to_checkout","product_id":"X","quantity":"2"}),
        )]);
        assert!(matches!(parse_turn(&m), Err(ActionError::Params { .. })));
        let m = message(vec![data(json!({"action":"add_to_checkout","product_id":"X","qty":2}))]);
        assert!(matches!(parse_turn(&m), Err(ActionError::Params { .. })));
        let m = message(vec![data(json!({"action":"fly_to_moon"}))]);
        assert!(matches!(parse_turn(&m), Err(ActionError::UnknownAction(_))));
        let m = message(vec![data(json!({"action":7}))]);
        assert_eq!(parse_turn(&m), Err(ActionError::ActionNotString));
    }

    #[test]
    fn completion_needs_a_payment_instrument() {
        let m = message(vec![data(json!({"action":"complete_checkout"}))]);
        assert_eq!(parse_turn(&m), Err(ActionError::MissingPayment));
        let m = message(vec![
            data(json!({"action":"complete_checkout"})),
            data(
                json!({"a2a.ucp.checkout.payment_data": {"id":"i1","handler_id":"h","type":"card",
                "credential":{"type":"token","token":"tok_secret"}}}),
            ),
        ]);
        let Turn::Action {
            action: Action::CompleteCheckout { payment },
        } = parse_turn(&m).unwrap()
        else {
            panic!("expected completion");
        };
        assert!(!format!("{payment:?}").contains("tok_secret"));
    }

    #[test]
    fn bad_payment_errors_do_not_echo_the_credential() {
        let m = message(vec![
            data(json!({"action":"complete_checkout"})),
            data(json!({"a2a.ucp.checkout.payment_data": {"id":"i1","type":"card",
                "credential":{"type":"token","token":"tok_secret"}}})),
        ]);
        let err = parse_turn(&m).unwrap_err().to_string();
        assert!(!err.contains("tok_secret"), "{err}");
    }

    /// A bounded fuzz run over action parsing (`PROPTEST_CASES` raises it): any data parts and
    /// text give a turn or a precise error, never a panic; a parsed quantity is always in range.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>().prop_map(|n| json!(n)),
                "[a-z_]{0,12}".prop_map(Value::String),
                prop_oneof![Just("add_to_checkout"), Just("complete_checkout"), Just("update_customer_details"), Just("BISC-001")]
                    .prop_map(|s| Value::String(s.to_owned())),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map(
                        prop_oneof![
                            Just("action".to_owned()),
                            Just("quantity".to_owned()),
                            Just("product_id".to_owned()),
                            Just("a2a.ucp.checkout.payment_data".to_owned()),
                            Just("credential".to_owned()),
                            "[a-z_]{1,8}"
                        ],
                        inner,
                        0..5
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn arbitrary_parts_never_panic(data in proptest::collection::vec(json(), 0..3), text in proptest::option::of("\\PC{0,64}")) {
                let mut parts: Vec<Part> = data
                    .into_iter()
                    .filter_map(|v| v.as_object().cloned())
                    .map(Part::data)
                    .collect();
                parts.extend(text.map(Part::text));
                let mut message = message(parts);
                if let Ok(Turn::Action { action: Action::AddToCheckout { quantity, .. } }) = parse_turn(&message) {
                    prop_assert!((1..=MAX_QUANTITY).contains(&quantity));
                }
                message.redact_secrets();
            }
        }
    }
}
