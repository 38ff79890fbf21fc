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
