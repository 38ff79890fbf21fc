//! Outbound HTTPS (here: a client's UCP profile) over rustls, trusting a private CA through
//! `HTTP_CA_FILE`: a profile served over TLS with a certificate that CA signed is fetched; one
//! signed by another CA is refused.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use testkit::client::message;
use testkit::tls::Certs;
use testkit::{Stack, StackOptions};

/// `openssl s_server -WWW`: serves the files of `dir` over HTTPS with `certs`, on a free port.
async fn https_server(certs: &Certs, dir: &Path) -> (tokio::process::Child, u16) {
    let port = testkit::free_port();
    let child = tokio::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-WWW", "-accept", &port.to_string()])
        .arg("-cert")
        .arg(&certs.cert)
        .arg("-key")
        .arg(&certs.key)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl s_server starts");
    testkit::eventually(Duration::from_secs(10), "the HTTPS server to listen", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await;
    (child, port)
}

async fn send_with_profile(client: &testkit::Client, url: &str) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message":
        message(json!([{"kind": "data", "data": {"action": "search_shopping_catalog", "query": "cookies"}}]), None)}});
    let header = format!("profile=\"{url}\"");
    let (status, answer) = client.post(body.to_string().into_bytes(), &[("ucp-agent", Some(&header))]).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test]
async fn profiles_are_fetched_over_https_trusting_the_configured_ca() {
    let trusted = Certs::generate();
    let untrusted = Certs::generate();
    let site = trusted.dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("profile.json"), testkit::profile::PLATFORM_PROFILE).unwrap();
    let (_good, good_port) = https_server(&trusted, &site).await;
    let (_bad, bad_port) = https_server(&untrusted, &site).await;

    let stack = Stack::start(StackOptions {
        workers: 1,
        env: vec![
            ("HTTP_CA_FILE".to_owned(), trusted.ca.to_string_lossy().into_owned()),
            ("UCP_PROFILE_ALLOWLIST".to_owned(), "localhost".to_owned()),
        ],
        ..Default::default()
    })
    .await;
    let client = stack.client("tls-agent");
    let ok = send_with_profile(&client, &format!("https://localhost:{good_port}/profile.json")).await;
    assert!(ok.get("result").is_some(), "the profile was fetched over TLS: {ok}");

    let refused = send_with_profile(&client, &format!("https://localhost:{bad_port}/profile.json")).await;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no UCP profile could be fetched"), "another CA's certificate is refused: {refused}");
}
