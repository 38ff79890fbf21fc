//! Payment credentials sealed at acceptance: before a message is stored or queued, the
//! credential of its payment instrument (token, card number, CVC) is taken out and sealed with
//! the current `PAYMENT_KEY` for this principal and messageId. The queued turn carries only the
//! sealed form, the stored request only `[redacted]`; the worker that completes the payment
//! opens it. The instrument's brand and last digits stay in clear to show which card paid.

use schemas::action::Turn;
use vault::Keyring;
use zeroize::Zeroizing;

/// Takes the credential out of `turn`'s payment and returns it sealed; `None` if the turn
/// carries no credential. Fills the instrument's last digits from a card number first.
pub fn seal(keyring: &Keyring, turn: &mut Turn, principal: &str, message_id: &str) -> Option<String> {
    let payment = turn.payment_mut()?;
    payment.fill_last_digits();
    let credential = payment.instrument.credential.take()?;
    let plaintext = Zeroizing::new(credential.to_string().into_bytes());
    Some(keyring.seal(&plaintext, principal, message_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::a2a::Message;
    use serde_json::json;

    #[test]
    fn the_credential_leaves_the_turn_sealed() {
        let keyring = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let message: Message = serde_json::from_value(json!({"kind":"message","role":"user","messageId":"m",
            "parts":[{"kind":"data","data":{"action":"complete_checkout"}},
                {"kind":"data","data":{"a2a.ucp.checkout.payment_data":{"id":"i","handler_id":"h","type":"card",
                    "credential":{"type":"card","number":"4111 1111 1111 1234","cvc":"987"}}}}]}))
        .unwrap();
        let mut turn = schemas::action::parse_turn(&message).unwrap();
        let sealed = seal(&keyring, &mut turn, "alice", "m").expect("a credential");
        let payment = turn.payment_mut().unwrap();
        assert_eq!(payment.instrument.credential, None);
        assert_eq!(payment.instrument.last_digits.as_deref(), Some("1234"));
        assert!(!sealed.contains("4111") && !sealed.contains("987"));
        let opened = keyring.open(&sealed, "alice", "m").unwrap();
        let credential: serde_json::Value = serde_json::from_slice(&opened).unwrap();
        assert_eq!(credential["cvc"], "987");
    }
}
