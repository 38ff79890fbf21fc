//! A message's fingerprint, so a resent messageId can be told apart from a new message that
//! reuses it: SHA-256 of the message's canonical JSON (object keys sorted, no whitespace) with
//! payment credentials redacted. Credentials are never kept in clear to compare against, so two
//! messages that differ only in a credential count as the same message.

use schemas::a2a::Message;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The fingerprint of `message` as the client sent it.
pub fn of(message: &Message) -> Vec<u8> {
    let mut message = message.clone();
    message.redact_secrets();
    let value = serde_json::to_value(&message).unwrap_or(Value::Null);
    Sha256::digest(canonical(&value).as_bytes()).to_vec()
}

/// The canonical JSON of a value: object keys sorted, no whitespace.
pub fn canonical(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    canonical
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, inner)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(inner, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, inner) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(inner, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(value: Value) -> Message {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn key_order_does_not_matter_but_content_does() {
        let a = message(json!({"kind":"message","role":"user","messageId":"m",
            "parts":[{"kind":"data","data":{"action":"add_to_checkout","product_id":"p","quantity":1}}]}));
        let b = message(json!({"messageId":"m","role":"user","kind":"message",
            "parts":[{"data":{"quantity":1,"product_id":"p","action":"add_to_checkout"},"kind":"data"}]}));
        let c = message(json!({"kind":"message","role":"user","messageId":"m",
            "parts":[{"kind":"data","data":{"action":"add_to_checkout","product_id":"p","quantity":2}}]}));
        assert_eq!(of(&a), of(&b));
        assert_ne!(of(&a), of(&c));
    }

    #[test]
    fn the_fingerprint_does_not_depend_on_credentials() {
        let pay = |token: &str| {
            message(json!({"kind":"message","role":"user","messageId":"m","parts":[{"kind":"data","data":{
                "action":"complete_checkout",
                "a2a.ucp.checkout.payment_data":{"id":"i","handler_id":"h","type":"card",
                    "credential":{"type":"token","token":token}}}}]}))
        };
        assert_eq!(of(&pay("tok_1")), of(&pay("tok_2")));
    }
}
