//! Bad input is answered with its precise, documented error, and writes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::client::{action, message, message_with_id};
use testkit::stack::token;
use testkit::{Client, Stack, StackOptions};

async fn written(stack: &Stack) -> (i64, i64) {
    (stack.db.count("tasks").await, stack.db.count("contexts").await)
}

fn code(body: &Value) -> i64 {
    body["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected a JSON-RPC error, got {body}"))
}

fn send_params(parts: Value) -> Value {
    json!({ "message": message(parts, Some("bad-ctx")) })
}

async fn expect_error(
    client: &Client,
    body: Vec<u8>,
    headers: &[(&str, Option<&str>)],
    status: StatusCode,
    expected: i64,
    mentions: &str,
) {
    let (got_status, got) = client.post(body.clone(), headers).await;
    assert_eq!(
        got_status,
        status,
        "HTTP status for {}: {got}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    assert_eq!(
        code(&got),
        expected,
        "code for {}: {got}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    let text = got["error"]["message"].as_str().unwrap_or_default();
    assert!(text.contains(mentions), "error {text:?} should mention {mentions:?}");
}

fn rpc(method: &str, params: Value) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params })
        .to_string()
        .into_bytes()
}

/// Envelope, method, params, product, quantity, headers and profile errors: each precise, none
/// writes a task or a conversation.
#[tokio::test]
async fn malformed_requests_get_precise_errors_and_write_nothing() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        ..Default::default()
    })
    .await;
    let client = stack.client("mallory");
    let ok = StatusCode::OK;
    let add = |quantity: Value| {
        send_params(action(
            json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": quantity}),
        ))
    };

    expect_error(&client, b"{not json".to_vec(), &[], ok, -32700, "parse error").await;
    expect_error(
        &client,
        br#"{"jsonrpc":"1.0","id":1,"method":"tasks/get","params":{"id":"x"}}"#.to_vec(),
        &[],
        ok,
        -32600,
        "jsonrpc",
    )
    .await;
    expect_error(
        &client,
        br#"[{"jsonrpc":"2.0","id":1,"method":"tasks/get"}]"#.to_vec(),
        &[],
        ok,
        -32600,
        "batch",
    )
    .await;
    expect_error(
        &client,
        rpc("tasks/explode", json!({})),
        &[],
        ok,
        -32601,
        "tasks/explode",
    )
    .await;
    expect_error(
        &client,
        rpc(
            "message/send",
            json!({"message": {"kind": "message", "role": "user", "parts": [{"kind": "text", "text": "hi"}]}}),
        ),
        &[],
        ok,
        -32602,
        "messageId",
    )
    .await;
    expect_error(&client, rpc("message/send", json!({"message": {"kind": "message", "role": "agent", "messageId": "m", "parts": [{"kind": "text", "text": "hi"}]}})), &[], ok, -32602, "role").await;
    expect_error(
        &client,
        rpc(
            "message/send",
            json!({"message": {"kind": "message", "role": "user", "messageId": "m", "parts": []}}),
        ),
        &[],
        ok,
        -32602,
        "parts",
    )
    .await;
    expect_error(
        &client,
        rpc(
            "message/send",
            send_params(action(json!({"action": "add_to_checkout", "product_id": "NOPE-404"}))),
        ),
        &[],
        ok,
        -32602,
        "unknown product",
    )
    .await;
    expect_error(&client, rpc("message/send", add(json!(0))), &[], ok, -32602, "quantity").await;
    expect_error(
        &client,
        rpc("message/send", add(json!(-2))),
        &[],
        ok,
        -32602,
        "quantity",
    )
    .await;
    expect_error(
        &client,
        rpc("message/send", add(json!(1_000_000_000))),
        &[],
        ok,
        -32602,
        "quantity",
    )
    .await;
    expect_error(
        &client,
        rpc("message/send", add(json!("2"))),
        &[],
        ok,
        -32602,
        "add_to_checkout",
    )
    .await;
    expect_error(
        &client,
        rpc("message/send", send_params(action(json!({"action": "teleport"})))),
        &[],
        ok,
        -32602,
        "unknown action",
    )
    .await;
    expect_error(
        &client,
        rpc(
            "message/send",
            send_params(action(json!({"action": "complete_checkout"}))),
        ),
        &[],
        ok,
        -32602,
        "payment",
    )
    .await;
    expect_error(&client, rpc("tasks/get", json!({"id": 5})), &[], ok, -32602, "id").await;

    let hello = rpc("message/send", send_params(json!([{"kind": "text", "text": "hello"}])));
    expect_error(&client, hello.clone(), &[("ucp-agent", None)], ok, -32602, "UCP-Agent").await;
    expect_error(
        &client,
        hello.clone(),
        &[("ucp-agent", Some("profile=unquoted"))],
        ok,
        -32602,
        "malformed UCP-Agent",
    )
    .await;
    expect_error(
        &client,
        hello.clone(),
        &[("ucp-agent", Some("profile=\"http://127.0.0.1:9/\""))],
        ok,
        -32602,
        "could not use the UCP profile",
    )
    .await;
    let future = format!("profile=\"{}/future.json\"", stack.profile_base);
    expect_error(
        &client,
        hello.clone(),
        &[("ucp-agent", Some(&future))],
        ok,
        -32602,
        "VERSION_UNSUPPORTED",
    )
    .await;
    expect_error(
        &client,
        hello.clone(),
        &[("x-a2a-extensions", None)],
        ok,
        -32602,
        "UCP extension is required",
    )
    .await;
    expect_error(
        &client,
        hello.clone(),
        &[("content-type", Some("text/plain"))],
        ok,
        -32005,
        "content type",
    )
    .await;
    let huge = rpc(
        "message/send",
        send_params(json!([{"kind": "text", "text": "x".repeat(300 * 1024)}])),
    );
    expect_error(&client, huge, &[], StatusCode::PAYLOAD_TOO_LARGE, -32600, "larger than").await;

    assert_eq!(written(&stack).await, (0, 0), "no bad request wrote anything");
}

/// Missing, expired and forged tokens get 401 with a JSON-RPC error body.
#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        ..Default::default()
    })
    .await;
    let mut client = stack.client("eve");
    let hello = rpc("message/send", send_params(json!([{"kind": "text", "text": "hello"}])));
    let unauthorized = StatusCode::UNAUTHORIZED;
    expect_error(
        &client,
        hello.clone(),
        &[("authorization", None)],
        unauthorized,
        -32600,
        "missing Authorization",
    )
    .await;
    expect_error(
        &client,
        hello.clone(),
        &[("authorization", Some("Basic Zm9vOmJhcg=="))],
        unauthorized,
        -32600,
        "Bearer",
    )
    .await;
    client.token = token("eve", -120);
    expect_error(&client, hello.clone(), &[], unauthorized, -32600, "expired").await;
    client.token = format!("{}x", token("eve", 600));
    expect_error(&client, hello.clone(), &[], unauthorized, -32600, "signature").await;
    assert_eq!(written(&stack).await, (0, 0));
}

/// Another principal's task is "not found", for reading and for cancelling; a message to a
/// finished task is refused; a finished task cannot be cancelled.
#[tokio::test]
async fn tasks_are_private_to_their_principal() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        ..Default::default()
    })
    .await;
    let alice = stack.client("alice");
    let bob = stack.client("bob");
    let task = alice
        .act(
            json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}),
            Some("alice-ctx"),
        )
        .await;
    let id = task["id"].as_str().unwrap();
    let before = written(&stack).await;

    expect_error(
        &bob,
        rpc("tasks/get", json!({"id": id})),
        &[],
        StatusCode::OK,
        -32001,
        "not found",
    )
    .await;
    expect_error(
        &bob,
        rpc("tasks/cancel", json!({"id": id})),
        &[],
        StatusCode::OK,
        -32001,
        "not found",
    )
    .await;
    expect_error(
        &alice,
        rpc("tasks/get", json!({"id": uuid::Uuid::new_v4().to_string()})),
        &[],
        StatusCode::OK,
        -32001,
        "not found",
    )
    .await;
    expect_error(
        &alice,
        rpc("tasks/cancel", json!({"id": id})),
        &[],
        StatusCode::OK,
        -32002,
        "completed",
    )
    .await;
    let mut to_finished = message_with_id("late", json!([{"kind": "text", "text": "more"}]), Some("alice-ctx"));
    to_finished["taskId"] = json!(id);
    expect_error(
        &alice,
        rpc("message/send", json!({"message": to_finished.clone()})),
        &[],
        StatusCode::OK,
        -32004,
        "completed",
    )
    .await;
    expect_error(
        &bob,
        rpc("message/send", json!({"message": to_finished})),
        &[],
        StatusCode::OK,
        -32001,
        "not found",
    )
    .await;
    assert_eq!(written(&stack).await, before, "refused requests wrote nothing");

    let mine = alice.get_task(id).await;
    assert_eq!(
        mine["history"].as_array().map(Vec::len),
        Some(2),
        "default history: the request and the reply"
    );
    let (_, limited) = alice.rpc("tasks/get", json!({"id": id, "historyLength": 1})).await;
    assert_eq!(
        limited["result"]["history"][0]["role"], "agent",
        "historyLength 1 keeps the latest message"
    );
    let (_, none) = alice.rpc("tasks/get", json!({"id": id, "historyLength": 0})).await;
    assert!(none["result"].get("history").is_none(), "historyLength 0: no history");
}
