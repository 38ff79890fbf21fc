//! Payment credentials sealed at the ingress and opened only by the worker that pays.
//!
//! A credential (token, card number, CVC) is sealed with AES-256-GCM before the message is
//! stored or queued: `v1.<key id>.<nonce>.<ciphertext>` (base64url). The associated data binds
//! it to its principal and messageId, so a sealed credential copied into another task does not
//! open. Keys come from `PAYMENT_KEY` (or the file `PAYMENT_KEY_FILE` names) as a list of
//! `<key id>:<base64 of 32 bytes>`; the first seals, every one opens, so a key is rotated by
//! putting the new one first and dropping the old once no message sealed with it is pending.

use std::collections::HashMap;
use std::path::PathBuf;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use clap::Args;
use lifecycle::secret::{self, Secret};
use zeroize::Zeroizing;

/// The prefix of every sealed value.
const VERSION: &str = "v1";
/// The longest key id accepted.
const MAX_KID_LEN: usize = 32;

/// The payment settings both processes read.
#[derive(Debug, Clone, Args)]
pub struct PaymentArgs {
    /// The payment handlers offered (ids from seed/merchant.json), in the business profile's
    /// order.
    #[arg(
        long,
        env = "PAYMENT_HANDLERS",
        value_delimiter = ',',
        default_value = "example_payment_provider",
        global = true
    )]
    pub payment_handlers: Vec<String>,
    /// Payment credential keys, `<key id>:<base64 of 32 bytes>[,...]`; the first seals.
    #[arg(long, env = "PAYMENT_KEY", hide_env_values = true, global = true)]
    pub payment_key: Option<Secret>,
    /// A file holding PAYMENT_KEY's value.
    #[arg(long, env = "PAYMENT_KEY_FILE", global = true)]
    pub payment_key_file: Option<PathBuf>,
}

impl PaymentArgs {
    /// The keyring, or why there is none.
    pub fn keyring(&self) -> Result<Keyring, String> {
        let text = secret::resolve(self.payment_key.as_ref(), self.payment_key_file.as_deref(), "PAYMENT_KEY")?
            .ok_or("PAYMENT_KEY (or PAYMENT_KEY_FILE) is required: `<key id>:<base64 of 32 bytes>`, e.g. k1:$(head -c 32 /dev/urandom | base64)")?;
        Keyring::parse(text.expose())
    }
}

/// Why a sealed value did not open. None of these says anything about the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the credential is not a sealed value")]
    Malformed,
    #[error("the credential was sealed with key {0:?}, which this process does not hold")]
    UnknownKey(String),
    #[error("the sealed credential does not open (tampered with, or sealed for another message)")]
    Rejected,
}

/// The keys this process seals and opens with.
pub struct Keyring {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
    /// Derived from the current key: keys [`Keyring::digest`].
    digest_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Keyring").field("current", &self.current).field("kids", &kids).finish()
    }
}

impl Keyring {
    /// Parses `<kid>:<base64 key>` entries separated by commas or newlines. Errors name the
    /// entry's position and key id, never the key.
    pub fn parse(text: &str) -> Result<Keyring, String> {
        let mut current = None;
        let mut digest_key = None;
        let mut keys = HashMap::new();
        for (i, entry) in text.split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let n = i + 1;
            let (kid, encoded) = entry
                .split_once(':')
                .ok_or_else(|| format!("PAYMENT_KEY entry {n} is not <key id>:<base64 key>"))?;
            let kid = kid.trim();
            let kid_ok = !kid.is_empty()
                && kid.len() <= MAX_KID_LEN
                && kid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !kid_ok {
                return Err(format!("PAYMENT_KEY entry {n}: the key id must be 1 to {MAX_KID_LEN} of A-Z a-z 0-9 - _"));
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| format!("PAYMENT_KEY entry {n} ({kid}): the key is not base64"))?,
            );
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| {
                format!("PAYMENT_KEY entry {n} ({kid}): the key must be 32 bytes, got {}", bytes.len())
            })?;
            if keys.insert(kid.to_owned(), cipher).is_some() {
                return Err(format!("PAYMENT_KEY: key id {kid} appears twice"));
            }
            if current.is_none() {
                current = Some(kid.to_owned());
                digest_key = Some(Zeroizing::new(hmac_sha256(&bytes, DIGEST_KEY_LABEL)));
            }
        }
        let current = current.ok_or("PAYMENT_KEY holds no key")?;
        let digest_key = digest_key.ok_or("PAYMENT_KEY holds no key")?;
        Ok(Keyring {
            current,
            keys,
            digest_key,
        })
    }

    /// A keyed digest (HMAC-SHA256) of `data`: equal data, equal digests, and without the key
    /// no one can test a guess (a card number, a token) against a stored digest. It changes
    /// when the current key does.
    pub fn digest(&self, data: &[u8]) -> Vec<u8> {
        hmac_sha256(&self.digest_key, data)
    }

    /// The id of the key that seals.
    pub fn current_kid(&self) -> &str {
        &self.current
    }

    /// Seals `plaintext` for the message `message_id` of `principal`.
    pub fn seal(&self, plaintext: &[u8], principal: &str, message_id: &str) -> String {
        let cipher = &self.keys[&self.current];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(principal, message_id);
        let ciphertext = cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: &aad })
            .expect("AES-GCM encrypts any message shorter than 64 GiB");
        format!(
            "{VERSION}.{}.{}.{}",
            self.current,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ciphertext)
        )
    }

    /// Opens a value [`Keyring::seal`] made for the same principal and message. The plaintext
    /// is wiped from memory when dropped.
    pub fn open(&self, sealed: &str, principal: &str, message_id: &str) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let mut fields = sealed.split('.');
        let (Some(VERSION), Some(kid), Some(nonce), Some(ciphertext), None) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(OpenError::Malformed);
        };
        let cipher = self.keys.get(kid).ok_or_else(|| OpenError::UnknownKey(kid.chars().take(MAX_KID_LEN).collect()))?;
        let nonce: [u8; 12] = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(OpenError::Malformed)?;
        let ciphertext = URL_SAFE_NO_PAD.decode(ciphertext).map_err(|_| OpenError::Malformed)?;
        let aad = associated_data(principal, message_id);
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &ciphertext, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| OpenError::Rejected)
    }
}

/// Principal and messageId, length-prefixed so no two pairs give the same bytes.
fn associated_data(principal: &str, message_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + principal.len() + message_id.len());
    aad.extend_from_slice(&(principal.len() as u64).to_be_bytes());
    aad.extend_from_slice(principal.as_bytes());
    aad.extend_from_slice(&(message_id.len() as u64).to_be_bytes());
    aad.extend_from_slice(message_id.as_bytes());
    aad
}

/// What the digest key is derived with (HMAC of the current key), so it differs from the key.
const DIGEST_KEY_LABEL: &[u8] = b"cartwright request digest v1";

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn sealed_values_open_only_for_their_message() {
        let ring = Keyring::parse(K1).unwrap();
        let sealed = ring.seal(b"4111111111111111", "alice", "m1");
        assert!(sealed.starts_with("v1.k1.") && !sealed.contains("4111"));
        assert_eq!(ring.open(&sealed, "alice", "m1").unwrap().as_slice(), b"4111111111111111");
        assert_eq!(ring.open(&sealed, "bob", "m1"), Err(OpenError::Rejected));
        assert_eq!(ring.open(&sealed, "alice", "m2"), Err(OpenError::Rejected));
        assert_ne!(sealed, ring.seal(b"4111111111111111", "alice", "m1"), "a fresh nonce each time");
        // Change one character in the middle of the ciphertext (any base64url character there
        // decodes; the last one might not, having unused bits).
        let at = sealed.rfind('.').unwrap() + 4;
        let mut tampered = sealed.clone();
        let swap = if &sealed[at..=at] == "A" { "B" } else { "A" };
        tampered.replace_range(at..=at, swap);
        assert_eq!(ring.open(&tampered, "alice", "m1"), Err(OpenError::Rejected));
        assert_eq!(ring.open("[redacted]", "alice", "m1"), Err(OpenError::Malformed));
    }

    #[test]
    fn rotation_seals_with_the_first_key_and_opens_with_any() {
        let old = Keyring::parse(K1).unwrap();
        let sealed_before = old.seal(b"tok", "p", "m");
        let rotated = Keyring::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.current_kid(), "k2");
        assert_eq!(rotated.open(&sealed_before, "p", "m").unwrap().as_slice(), b"tok");
        let sealed_after = rotated.seal(b"tok", "p", "m");
        assert_eq!(old.open(&sealed_after, "p", "m"), Err(OpenError::UnknownKey("k2".into())));
    }

    #[test]
    fn bad_keys_are_refused_without_showing_them() {
        for (text, says) in [
            ("", "no key"),
            ("k1", "not <key id>"),
            ("k1:not-base64!", "not base64"),
            ("k1:AAAA", "32 bytes"),
            ("bad id:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "key id"),
        ] {
            let error = Keyring::parse(text).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
            assert!(!error.contains("AAEC"), "{error}");
        }
        assert!(Keyring::parse(&format!("{K1},{K1}")).unwrap_err().contains("twice"));
        assert!(!format!("{:?}", Keyring::parse(K1).unwrap()).contains("AAEC"));
    }
}
