//! UCP-Agent profile URLs are hostile input: the allow-list, https, and the address of every
//! name are checked before anything connects (loopback, private, link-local, metadata
//! refused, through DNS too); a fetch has no redirects, short timeouts and a size cap; the
//! error names the rule, never what a server answered; one slow profile server is asked once
//! however many requests name it, and stalls nobody else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures::future::join_all;
use serde_json::{json, Value};
use testkit::client::message;
use testkit::{Client, Stack, StackOptions};

fn hello() -> Value {
    json!({"message": message(json!([{"kind": "data", "data": {"action": "search_shopping_catalog", "query": "cookies"}}]), None)})
}

/// `message/send` presenting the profile at `url`; the JSON-RPC error message, or `None` if
/// the task was accepted.
async fn send_with_profile(client: &Client, url: &str) -> Option<String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": hello()});
    let header = format!("profile=\"{url}\"");
    let (status, answer) = client.post(body.to_string().into_bytes(), &[("ucp-agent", Some(&header))]).await;
    assert_eq!(status, 200, "{answer}");
    if answer.get("result").is_some() {
        return None;
    }
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    Some(answer["error"]["message"].as_str().unwrap_or_default().to_owned())
}

async fn refused(client: &Client, url: &str, rule: &str) {
    let started = Instant::now();
    let error = send_with_profile(client, url).await.unwrap_or_else(|| panic!("{url} was accepted"));
    assert!(error.contains(rule), "{url}: expected {rule:?} in {error:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{url} took {:?}", started.elapsed());
}

#[tokio::test]
async fn with_no_allow_list_only_public_https_hosts_are_fetched() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        env: vec![("UCP_PROFILE_ALLOWLIST".to_owned(), String::new())],
        ..Default::default()
    })
    .await;
    let client = stack.client("ssrf");
    let open_port = stack.profile_base.rsplit(':').next().unwrap().to_owned();
    refused(&client, &format!("{}/profile.json", stack.profile_base), "must use https").await;
    refused(&client, "https://169.254.169.254/latest/meta-data/", "link-local or metadata address").await;
    refused(&client, "https://127.0.0.1/profile.json", "loopback address").await;
    refused(&client, "https://[::1]:9/profile.json", "loopback address").await;
    refused(&client, "https://[fd00::1]/profile.json", "private (unique local) address").await;
    refused(&client, "https://10.0.0.7/profile.json", "private address").await;
    refused(&client, "https://100.64.0.1/profile.json", "CGNAT").await;
    refused(&client, "https://[::ffff:169.254.169.254]/", "link-local or metadata address").await;
    refused(&client, "https://user:pw@agent.example/profile.json", "must not carry credentials").await;
    // A name that resolves to loopback is refused at resolution, before any connection.
    refused(&client, &format!("https://localhost:{open_port}/profile.json"), "resolves to a loopback address").await;
}

/// A server that counts connections and never answers.
async fn hanging_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (port, accepted)
}

/// Hostile answers: an error status with a body worth hiding, a redirect, an oversized body,
/// and the redirect's target, which counts its hits.
async fn hostile_server() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new()
        .route("/error.json", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "SECRET-INTERNAL-BODY") }))
        .route(
            "/redirect.json",
            get(|| async { (StatusCode::FOUND, [("location", "/target.json")], "").into_response() }),
        )
        .route(
            "/target.json",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { testkit::profile::PLATFORM_PROFILE }
            }),
        )
        .route("/huge.json", get(|| async { " ".repeat(200 * 1024) }))
        .route("/not-a-profile.json", get(|| async { "{\"hello\": 1}" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hits)
}

#[tokio::test]
async fn listed_hosts_are_bounded_and_their_answers_stay_private() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        env: vec![("UCP_PROFILE_ALLOWLIST".to_owned(), "localhost".to_owned())],
        ..Default::default()
    })
    .await;
    let client = stack.client("listed");
    let profile_port = stack.profile_base.rsplit(':').next().unwrap().to_owned();
    let good = format!("http://localhost:{profile_port}/profile.json");
    assert_eq!(send_with_profile(&client, &good).await, None, "a listed host serves its profile");
    refused(&client, &format!("{}/profile.json", stack.profile_base), "not in UCP_PROFILE_ALLOWLIST").await;
    refused(&client, "https://agent.example/profile.json", "not in UCP_PROFILE_ALLOWLIST").await;

    let (hostile, target_hits) = hostile_server().await;
    for path in ["error.json", "redirect.json", "huge.json", "not-a-profile.json"] {
        let error = send_with_profile(&client, &format!("http://localhost:{hostile}/{path}"))
            .await
            .unwrap_or_else(|| panic!("{path} was accepted"));
        assert!(error.contains("no UCP profile could be fetched"), "{path}: {error}");
        for secret in ["500", "302", "SECRET", "Internal", "Found"] {
            assert!(!error.contains(secret), "{path}: the error repeats what the server said: {error}");
        }
    }
    assert_eq!(target_hits.load(Ordering::SeqCst), 0, "redirects are not followed");

    // Five requests name a server that never answers while another client's request goes on.
    let (hanging, accepted) = hanging_server().await;
    let slow = format!("http://localhost:{hanging}/profile.json");
    let started = Instant::now();
    let slow_sends = join_all((0..5).map(|_| send_with_profile(&client, &slow)));
    let other = async {
        let started = Instant::now();
        let answer = send_with_profile(&stack.client("bystander"), &good).await;
        (answer, started.elapsed())
    };
    let (errors, (other_answer, other_took)) = tokio::join!(slow_sends, other);
    for error in errors {
        let error = error.expect("the hanging profile is refused");
        assert!(error.contains("no UCP profile could be fetched"), "{error}");
    }
    assert!(started.elapsed() < Duration::from_secs(4), "bounded by the fetch timeout: {:?}", started.elapsed());
    assert_eq!(other_answer, None);
    assert!(other_took < Duration::from_secs(1), "the bystander waited {other_took:?} behind the slow server");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "concurrent fetches of one URL are merged");

    // The failure is remembered: asking again costs no new connection and no wait.
    let again = Instant::now();
    assert!(send_with_profile(&client, &slow).await.is_some());
    assert!(again.elapsed() < Duration::from_secs(1));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
