//! Transport security: PostgreSQL over TLS (`sslmode=verify-full` against the test's CA) and
//! NATS over TLS with each way of authenticating (user and password from a file, a token, an
//! NKey seed), against real servers started with a certificate the test made. The servers
//! refuse plain connections, so the system working at all proves it used TLS.

use std::time::Duration;

use serde_json::json;
use sqlx::Connection;
use testkit::client::checkout_of;
use testkit::pg::PgServer;
use testkit::tls::Certs;
use testkit::{Stack, StackOptions};

/// A nats-server config with JetStream, TLS with `certs`, and `authorization`.
fn nats_config(certs: &Certs, authorization: &str) -> &'static str {
    nats_config_with(certs, &format!("authorization {{ {authorization} }}"))
}

/// A nats-server config with JetStream, TLS with `certs`, and `auth` (whole settings).
fn nats_config_with(certs: &Certs, auth: &str) -> &'static str {
    let text = format!(
        "jetstream {{ sync_interval: always }}\nmax_payload: 1MB\n\
         tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n{auth}\n",
        certs.cert.display(),
        certs.key.display()
    );
    let path = certs.dir.join(format!("nats-{}.conf", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, text).expect("writing the nats config");
    Box::leak(path.to_string_lossy().into_owned().into_boxed_str())
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A blocking add through the stack: the ingress accepted it over PostgreSQL and NATS, a
/// worker consumed it over NATS and committed it to PostgreSQL.
async fn shop(stack: &Stack) {
    let client = stack.client("tls-shopper");
    let added = client
        .act(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 2}), Some("tls-ctx"))
        .await;
    let checkout = checkout_of(&added).expect("a checkout");
    assert_eq!(checkout["line_items"][0]["quantity"], 2, "{checkout}");
}

#[tokio::test]
async fn postgres_and_nats_over_tls_with_a_password_file() {
    let certs = Certs::generate();
    let pg = PgServer::start_tls(&certs.cert, &certs.key);
    let plain = format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable", pg.port);
    assert!(sqlx::PgConnection::connect(&plain).await.is_err(), "the server refuses plain connections");
    let admin = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        certs.ca.display()
    );
    let password_file = certs.dir.join("nats-password");
    std::fs::write(&password_file, "s3cret-nats-password\n").unwrap();
    let ca = certs.ca.to_string_lossy().into_owned();
    let stack = Stack::start(StackOptions {
        workers: 1,
        postgres_admin_url: Some(admin),
        nats_config: nats_config(&certs, "user: cartwright, password: s3cret-nats-password"),
        env: env(&[
            ("NATS_TLS_CA_FILE", &ca),
            ("NATS_USER", "cartwright"),
            ("NATS_PASSWORD_FILE", &password_file.to_string_lossy()),
        ]),
        ..Default::default()
    })
    .await;
    shop(&stack).await;

    let url = stack.nats.url();
    assert!(async_nats::connect(&url).await.is_err(), "nats-server refuses a plain connection");
    let wrong = async_nats::ConnectOptions::with_user_and_password("cartwright".into(), "wrong".into())
        .require_tls(true)
        .add_root_certificates(certs.ca.clone())
        .connect(&url)
        .await;
    assert!(wrong.is_err(), "and a wrong password");
    for process in stack.workers.iter().chain(stack.ingress.iter()) {
        assert!(!process.output().contains("s3cret-nats-password"), "{} logged the password", process.name);
    }
}

#[tokio::test]
async fn nats_over_tls_with_a_token() {
    let certs = Certs::generate();
    let ca = certs.ca.to_string_lossy().into_owned();
    let stack = Stack::start(StackOptions {
        workers: 1,
        nats_config: nats_config(&certs, "token: tok-for-nats-0123"),
        env: env(&[("NATS_TLS_CA_FILE", &ca), ("NATS_TOKEN", "tok-for-nats-0123")]),
        ..Default::default()
    })
    .await;
    shop(&stack).await;
}

#[tokio::test]
async fn nats_over_tls_with_an_nkey_seed_file() {
    let certs = Certs::generate();
    let user = nkeys::KeyPair::new_user();
    let seed_file = certs.dir.join("nkey.seed");
    std::fs::write(&seed_file, user.seed().unwrap()).unwrap();
    let ca = certs.ca.to_string_lossy().into_owned();
    let stack = Stack::start(StackOptions {
        workers: 1,
        nats_config: nats_config(&certs, &format!("users: [ {{ nkey: \"{}\" }} ]", user.public_key())),
        env: env(&[("NATS_TLS_CA_FILE", &ca), ("NATS_NKEY_SEED_FILE", &seed_file.to_string_lossy())]),
        ..Default::default()
    })
    .await;
    shop(&stack).await;
}

#[tokio::test]
async fn nats_over_tls_with_a_creds_file() {
    let certs = Certs::generate();
    let operator = testkit::nats_jwt::Operator::create();
    let creds = certs.dir.join("user.creds");
    std::fs::write(&creds, &operator.creds).unwrap();
    let ca = certs.ca.to_string_lossy().into_owned();
    let stack = Stack::start(StackOptions {
        workers: 1,
        nats_config: nats_config_with(&certs, &operator.server_config),
        env: env(&[("NATS_TLS_CA_FILE", &ca), ("NATS_CREDS_FILE", &creds.to_string_lossy())]),
        ..Default::default()
    })
    .await;
    shop(&stack).await;
    let anonymous = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(certs.ca.clone())
        .connect(stack.nats.url())
        .await;
    assert!(anonymous.is_err(), "the operator-mode server refuses a client without creds");
}

/// A server certificate the configured CA did not sign is refused, saying why.
#[tokio::test]
async fn an_untrusted_server_certificate_is_refused() {
    let certs = Certs::generate();
    let other = Certs::generate();
    let pg = PgServer::start_tls(&certs.cert, &certs.key);
    let admin = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        other.ca.display()
    );
    let refused = tokio::time::timeout(Duration::from_secs(20), sqlx::PgConnection::connect(&admin))
        .await
        .expect("an answer in time");
    let Err(error) = refused else {
        panic!("verify-full against another CA fails");
    };
    assert!(error.to_string().contains("invalid peer certificate"), "{error}");
}
