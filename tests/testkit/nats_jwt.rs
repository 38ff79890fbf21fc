//! NATS decentralised auth for tests: an operator, a system account, an account with JetStream
//! and a user in it, as `nsc` would make them (JWT v2 claims signed with NKeys), and the
//! user's `.creds` file.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use nkeys::KeyPair;
use serde_json::{json, Value};
use sha2::{Digest, Sha512_256};

/// The nats-server settings that trust the operator and preload the account, and the user's
/// creds file contents.
pub struct Operator {
    pub server_config: String,
    pub creds: String,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// RFC 4648 base32 without padding, as NATS writes `jti`.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &byte in bytes {
        buffer = (buffer << 8) | byte as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A JWT v2 for `subject`, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let mut claims = json!({"iat": now(), "iss": issuer.public_key(), "name": name, "sub": subject, "nats": nats});
    let hash = Sha512_256::digest(claims.to_string().as_bytes());
    claims["jti"] = json!(base32(&hash));
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).expect("signing");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

impl Operator {
    pub fn create() -> Operator {
        let operator = KeyPair::new_operator();
        let account = KeyPair::new_account();
        let system = KeyPair::new_account();
        let user = KeyPair::new_user();
        let operator_jwt = jwt(&operator, &operator.public_key(), "test-operator", json!({"type": "operator", "version": 2}));
        let account_jwt = jwt(
            &operator,
            &account.public_key(),
            "test-account",
            json!({"type": "account", "version": 2, "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true,
                "conn": -1, "leaf": -1, "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1
            }}),
        );
        let system_jwt = jwt(&operator, &system.public_key(), "SYS", json!({"type": "account", "version": 2}));
        let user_jwt = jwt(
            &account,
            &user.public_key(),
            "test-user",
            json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}),
        );
        // JetStream needs a system account in operator mode.
        let server_config = format!(
            "operator: \"{operator_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{ {acc}: \"{account_jwt}\", {sys}: \"{system_jwt}\" }}\n",
            acc = account.public_key(),
            sys = system.public_key()
        );
        let creds = format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().expect("a seed")
        );
        Operator { server_config, creds }
    }
}
