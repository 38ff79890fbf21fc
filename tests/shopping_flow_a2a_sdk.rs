//! The shopping flow driven by the official Python A2A client (`a2a-sdk` from PyPI, installed
//! into .tools/ by the test command): card -> search -> add -> customer details ->
//! start_payment -> complete -> order id, blocking and non-blocking.

use std::time::Duration;

use testkit::stack::token;
use testkit::{Stack, StackOptions};

async fn run_flow(mode: &str) {
    let stack = Stack::start(StackOptions::default()).await;
    let python = testkit::python();
    let script = testkit::repo_root().join("tests/python/shopping_flow.py");
    let profile = format!("{}/profile.json", stack.profile_base);
    let run = tokio::process::Command::new(python)
        .arg(script)
        .args([
            "--url",
            &stack.base_url,
            "--token",
            &token("sdk-user", 3600),
            "--profile",
            &profile,
            "--mode",
            mode,
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the a2a-sdk flow finishes within 120 s")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "a2a-sdk flow ({mode}) failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("shopping flow ok ({mode}), order ORD-")),
        "{stdout}"
    );
    let orders = stack.db.count("orders").await;
    assert_eq!(orders, 1, "exactly one order placed");
}

/// a2a-sdk with blocking sends.
#[tokio::test]
async fn a2a_sdk_client_shops_blocking() {
    run_flow("blocking").await;
}

/// a2a-sdk with non-blocking sends, polling tasks/get.
#[tokio::test]
async fn a2a_sdk_client_shops_non_blocking() {
    run_flow("nonblocking").await;
}
