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
    let mut hasher = Sha256::new();
    // Written straight into the hash: no canonical string is built (BENCHMARKS.md, issue 11).
    let _ = serde_json::to_writer(&mut hasher, &value);
    hasher.finalize().to_vec()
}

/// The canonical JSON of a value: object keys sorted, no whitespace. serde_json's objects keep
/// their keys sorted (its `preserve_order` feature is off in this workspace, which
/// `canonical_json_sorts_keys_at_every_level` checks), so this is its compact form.
pub fn canonical(value: &Value) -> String {
    value.to_string()
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

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value: Value = serde_json::from_str(r#"{"b":1,"a":{"z":[{"y":1,"x":"\u00e9\n"}],"c":null}}"#).unwrap();
        assert_eq!(canonical(&value), r#"{"a":{"c":null,"z":[{"x":"é\n","y":1}]},"b":1}"#);
    }

    #[test]
    fn fingerprints_are_the_digest_of_the_canonical_json() {
        let m = message(json!({"role":"user","kind":"message","messageId":"m","parts":[{"kind":"text","text":"hi"}]}));
        let expected = Sha256::digest(canonical(&serde_json::to_value(&m).unwrap()).as_bytes()).to_vec();
        assert_eq!(of(&m), expected);
    }
}
