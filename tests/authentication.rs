//! Who is calling: JWTs verified against a JWKS (RS256, ES256, EdDSA) with issuer, audience,
//! expiry and not-before enforced and the algorithm fixed by configuration; keys rotated
//! without a restart, with unknown-`kid` refreshes rate-limited; API keys created, listed and
//! revoked with the operator CLI, refused within seconds of revocation. Every refusal is 401
//! with `WWW-Authenticate`.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use axum::Router;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::client::action;
use testkit::{Client, Stack, StackOptions};

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "cartwright-test";

/// A private key made by openssl, as a jsonwebtoken key and its public JWK.
fn keypair(algorithm: Algorithm, kid: &str) -> (EncodingKey, Jwk) {
    let args: &[&str] = match algorithm {
        Algorithm::RS256 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        Algorithm::ES256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        _ => &["-algorithm", "ed25519"],
    };
    let out = Command::new("openssl").arg("genpkey").args(args).output().expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&out.stdout),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&out.stdout),
        _ => EncodingKey::from_ed_pem(&out.stdout),
    }
    .expect("a PEM key");
    let mut jwk = Jwk::from_encoding_key(&key, algorithm).expect("a JWK");
    jwk.common.key_id = Some(kid.to_owned());
    (key, jwk)
}

/// Serves a JWK set that the test may change, counting fetches.
struct JwksServer {
    url: String,
    set: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks_server(keys: Vec<Jwk>) -> JwksServer {
    let set = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (set.clone(), fetches.clone());
    let app = Router::new().route(
        "/jwks.json",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let keys = served.lock().unwrap().clone();
            async move { axum::Json(JwkSet { keys }) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    JwksServer { url, set, fetches }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn sign(key: &EncodingKey, algorithm: Algorithm, kid: Option<&str>, claims: Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    encode(&header, &claims, key).expect("signing")
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 300, "nbf": now() - 10})
}

/// `message/send` of a search with this bearer token: (status, WWW-Authenticate, body).
async fn call(client: &Client, token: &str) -> (StatusCode, Option<String>, Value) {
    let message = testkit::client::message(action(json!({"action": "search_shopping_catalog", "query": "cookies"})), None);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}});
    let bearer = format!("Bearer {token}");
    let (status, headers, body) = client
        .post_with_headers(body.to_string().into_bytes(), &[("authorization", Some(&bearer))])
        .await;
    let challenge = headers.get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, body)
}

async fn accepted(client: &Client, token: &str) {
    let (status, _, body) = call(client, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("result").is_some(), "{body}");
}

async fn refused(client: &Client, token: &str, says: &str) {
    let (status, challenge, body) = call(client, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "401 carries WWW-Authenticate");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "expected {says:?} in {message:?}");
}

async fn jwks_stack(algorithm: Algorithm, jwks: &JwksServer) -> Stack {
    let name = match algorithm {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "EdDSA",
    };
    let env = [
        ("AUTH_JWT_ALGORITHM", name),
        ("AUTH_JWKS_URL", jwks.url.as_str()),
        ("AUTH_JWT_ISSUER", ISSUER),
        ("AUTH_JWT_AUDIENCE", AUDIENCE),
        ("AUTH_JWKS_MIN_REFRESH", "2"),
    ];
    Stack::start(StackOptions {
        workers: 1,
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    })
    .await
}

async fn jwks_tokens_are_verified(algorithm: Algorithm) {
    let (key, jwk) = keypair(algorithm, "k1");
    let jwks = jwks_server(vec![jwk]).await;
    let stack = jwks_stack(algorithm, &jwks).await;
    let client = stack.client("unused");
    accepted(&client, &sign(&key, algorithm, Some("k1"), claims("alice"))).await;
    let mut wrong_issuer = claims("alice");
    wrong_issuer["iss"] = json!("https://evil.test");
    refused(&client, &sign(&key, algorithm, Some("k1"), wrong_issuer), "issuer").await;
    let mut wrong_audience = claims("alice");
    wrong_audience["aud"] = json!("someone-else");
    refused(&client, &sign(&key, algorithm, Some("k1"), wrong_audience), "audience").await;
    let mut expired = claims("alice");
    expired["exp"] = json!(now() - 120);
    refused(&client, &sign(&key, algorithm, Some("k1"), expired), "expired").await;
    let mut early = claims("alice");
    early["nbf"] = json!(now() + 600);
    refused(&client, &sign(&key, algorithm, Some("k1"), early), "not valid yet").await;
    let mut no_exp = claims("alice");
    no_exp.as_object_mut().unwrap().remove("exp");
    refused(&client, &sign(&key, algorithm, Some("k1"), no_exp), "exp").await;
    // The algorithm is configuration: an HS256 token "signed" with the public key is refused.
    let public = serde_json::to_string(&jwks.set.lock().unwrap()[0]).unwrap();
    let confused = sign(&EncodingKey::from_secret(public.as_bytes()), Algorithm::HS256, Some("k1"), claims("alice"));
    refused(&client, &confused, "invalid").await;
    let unsigned = format!("eyJhbGciOiJub25lIn0.{}.", URL_SAFE_NO_PAD.encode(claims("alice").to_string()));
    refused(&client, &unsigned, "invalid").await;
    let (other_key, _) = keypair(algorithm, "k1");
    refused(&client, &sign(&other_key, algorithm, Some("k1"), claims("alice")), "invalid").await;
}

#[tokio::test]
async fn rs256_tokens_are_verified_against_the_jwks() {
    jwks_tokens_are_verified(Algorithm::RS256).await;
}

#[tokio::test]
async fn es256_tokens_are_verified_against_the_jwks() {
    jwks_tokens_are_verified(Algorithm::ES256).await;
}

#[tokio::test]
async fn eddsa_tokens_are_verified_against_the_jwks() {
    jwks_tokens_are_verified(Algorithm::EdDSA).await;
}

/// A new key published under a new `kid` works without a restart; a flood of made-up `kid`s
/// costs at most one fetch per refresh interval.
#[tokio::test]
async fn keys_rotate_without_a_restart_and_unknown_kids_are_rate_limited() {
    let (k1, jwk1) = keypair(Algorithm::ES256, "k1");
    let jwks = jwks_server(vec![jwk1.clone()]).await;
    let stack = jwks_stack(Algorithm::ES256, &jwks).await;
    let client = stack.client("unused");
    accepted(&client, &sign(&k1, Algorithm::ES256, Some("k1"), claims("alice"))).await;
    let after_start = jwks.fetches.load(Ordering::SeqCst);
    assert_eq!(after_start, 1, "fetched once at start");

    for i in 0..30 {
        refused(&client, &sign(&k1, Algorithm::ES256, Some(&format!("forged-{i}")), claims("alice")), "invalid").await;
    }
    let after_flood = jwks.fetches.load(Ordering::SeqCst);
    assert!(after_flood - after_start <= 2, "30 unknown kids caused {} fetches", after_flood - after_start);

    let (k2, jwk2) = keypair(Algorithm::ES256, "k2");
    jwks.set.lock().unwrap().push(jwk2);
    let token = sign(&k2, Algorithm::ES256, Some("k2"), claims("alice"));
    testkit::eventually(Duration::from_secs(10), "the rotated key to be accepted", || {
        let (client, token) = (client.clone(), token.clone());
        async move { (call(&client, &token).await.0 == StatusCode::OK).then_some(()) }
    })
    .await;
    accepted(&client, &sign(&k1, Algorithm::ES256, Some("k1"), claims("alice"))).await;
}

/// `X-API-Key` `message/send` of a search: (status, body).
async fn call_with_key(client: &Client, key: &str) -> (StatusCode, Value) {
    let message = testkit::client::message(action(json!({"action": "search_shopping_catalog", "query": "cookies"})), Some("svc-ctx"));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}});
    let (status, answer) = client.post(body.to_string().into_bytes(), &[("authorization", None), ("x-api-key", Some(key))]).await;
    (status, answer)
}

#[tokio::test]
async fn api_keys_are_created_listed_and_revoked_by_the_operator() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        env: vec![("API_KEY_CACHE_TTL".to_owned(), "1".to_owned())],
        ..Default::default()
    })
    .await;
    let (ok, key, said) = stack.cli(&["api-key", "create", "--principal", "svc-agent", "--name", "partner"]);
    assert!(ok, "{said}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("cw_"), "{key}");
    let id = key.split('_').nth(1).unwrap().to_owned();

    let client = stack.client("unused");
    let (status, body) = call_with_key(&client, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let task_id = body["result"]["id"].as_str().unwrap().to_owned();
    let owner: String = sqlx::query_scalar("SELECT principal FROM tasks WHERE id = $1::uuid")
        .bind(&task_id)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(owner, "svc-agent", "the key acts as its principal");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE strpos(secret_hash::text, $1) > 0 OR strpos(name, $1) > 0")
        .bind(key.rsplit('_').next().unwrap())
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "only a hash of the secret is stored");

    let (ok, listing, _) = stack.cli(&["api-key", "list"]);
    assert!(ok && listing.contains(&id) && listing.contains("svc-agent") && listing.contains("partner"), "{listing}");
    assert!(!listing.contains(key.rsplit('_').next().unwrap()), "the listing never shows secrets");

    for bad in ["cw_0123456789abcdef_nope", "garbage", &format!("{key}x")] {
        let (status, body) = call_with_key(&client, bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("API key is not valid"), "{body}");
    }

    let (_replica, replica_client) = stack.start_replica("unused").await;
    assert_eq!(call_with_key(&replica_client, &key).await.0, StatusCode::OK, "the key works on every ingress");
    let (ok, _, said) = stack.cli(&["api-key", "revoke", &id]);
    assert!(ok, "{said}");
    for ingress in [&client, &replica_client] {
        testkit::eventually(Duration::from_secs(5), "the revoked key to be refused on every ingress", || {
            let (ingress, key) = (ingress.clone(), key.clone());
            async move { (call_with_key(&ingress, &key).await.0 == StatusCode::UNAUTHORIZED).then_some(()) }
        })
        .await;
    }
    let (ok, listing, _) = stack.cli(&["api-key", "list"]);
    assert!(ok && !listing.lines().any(|l| l.starts_with(&id) && l.trim_end().ends_with('-')), "revocation is listed: {listing}");
    let (ok, _, said) = stack.cli(&["api-key", "revoke", "0000000000000000"]);
    assert!(!ok && said.contains("no API key"), "{said}");
}
