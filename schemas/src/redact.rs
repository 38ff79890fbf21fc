//! Payment credentials must never be stored in task history, logged or returned. These helpers
//! scrub them from JSON before it leaves the code that needs them.

use serde_json::{Map, Value};

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Keys whose values are secret wherever they appear.
const SECRET_KEYS: [&str; 4] = ["credential", "token", "card_number", "cvc"];

/// Replaces every secret value inside `value`, at any depth.
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => redact_map(map),
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// Replaces every secret value inside an object's entries, at any depth.
pub fn redact_map(map: &mut Map<String, Value>) {
    for (key, inner) in map.iter_mut() {
        if SECRET_KEYS.contains(&key.as_str()) {
            *inner = Value::String(REDACTED.to_owned());
        } else {
            redact_secrets(inner);
        }
    }
}

/// The fewest and most digits a payment card number has (ISO/IEC 7812).
const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Masks what looks like a payment card number typed into free text: a run of 13 to 19 digits,
/// possibly grouped by single spaces or dashes, becomes `[card ending 1234]`. Every such run is
/// masked, Luhn-valid or not: a mistyped card number is still a card number, and shopping
/// conversations rarely carry other numbers that long.
pub fn mask_card_numbers(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut masked = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let (end, digits) = digit_run(bytes, i);
        if CARD_DIGITS.contains(&digits.len()) {
            masked.push_str(&text[copied..i]);
            masked.push_str("[card ending ");
            masked.push_str(&digits[digits.len() - 4..]);
            masked.push(']');
            copied = end;
        }
        i = end;
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    masked.push_str(&text[copied..]);
    std::borrow::Cow::Owned(masked)
}

/// The end of the digit run starting at `start` (digits joined by single spaces or dashes) and
/// its digits.
fn digit_run(bytes: &[u8], start: usize) -> (usize, String) {
    let mut digits = String::new();
    let mut end = start;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                digits.push(bytes[i] as char);
                i += 1;
                end = i;
            }
            b' ' | b'-' if i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit() && i > start => i += 1,
            _ => break,
        }
    }
    (end, digits)
}

/// A serde error described without the offending value, which may be a secret.
pub fn describe_serde_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.starts_with("missing field") || text.starts_with("unknown field") {
        text.split(" at line").next().unwrap_or_default().to_owned()
    } else {
        "a field has the wrong type".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_scrubbed_at_any_depth() {
        let mut v = json!({"parts":[{"data":{"a2a.ucp.checkout.payment_data":
            {"id":"i","credential":{"type":"token","token":"tok_live_1"}}}}]});
        redact_secrets(&mut v);
        assert!(!v.to_string().contains("tok_live_1"));
        assert_eq!(v["parts"][0]["data"]["a2a.ucp.checkout.payment_data"]["id"], "i");
    }

    #[test]
    fn typed_card_numbers_are_masked() {
        for (typed, last4) in [
            ("4111111111111111", "1111"),
            ("4242 4242 4242 4242", "4242"),
            ("5555-5555-5555-4444", "4444"),
            ("3782 822463 10005", "0005"),
            ("1234567890123", "0123"),
        ] {
            let text = format!("my card is {typed}, expiry 12/30");
            let masked = mask_card_numbers(&text);
            assert_eq!(masked, format!("my card is [card ending {last4}], expiry 12/30"));
        }
    }

    #[test]
    fn short_numbers_and_ordinary_text_are_kept() {
        for text in ["add 2 cookies", "call 555 123 4567", "order ORD-42 on 2026-01-11", "zip 94043", ""] {
            assert_eq!(mask_card_numbers(text), text);
        }
        let long = "12345678901234567890123";
        assert_eq!(mask_card_numbers(long), long, "longer than any card number");
    }

    #[test]
    fn a_typed_message_is_scrubbed_in_every_part_and_its_metadata() {
        let mut message: crate::a2a::Message = serde_json::from_value(json!({
            "kind": "message", "role": "user", "messageId": "m",
            "metadata": {"cvc": "123"},
            "parts": [
                {"kind": "text", "text": "pay", "metadata": {"token": "tok_text_meta"}},
                {"kind": "data", "data": {"a2a.ucp.checkout.payment_data":
                    {"id": "i", "credential": {"type": "token", "token": "tok_live_2"}}}}
            ]
        }))
        .unwrap();
        message.redact_secrets();
        let text = serde_json::to_string(&message).unwrap();
        for secret in ["tok_live_2", "tok_text_meta", "123"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert!(text.contains("\"id\":\"i\""), "non-secret fields stay: {text}");
    }
}
