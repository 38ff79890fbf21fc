//! Bad input is answered with its precise, documented error, and writes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::client::{action, checkout_of, message, message_with_id};
use testkit::stack::token;
use testkit::{Client, Stack, StackOptions};

/// One bad request and the error it must get.
struct Case {
    body: Vec<u8>,
    /// Headers replacing the usual ones (`None` removes a header).
    headers: Vec<(&'static str, Option<String>)>,
    status: StatusCode,
    code: i64,
    /// Text the error message must contain.
    mentions: &'static str,
}

/// A case answered with HTTP 200 and JSON-RPC error `code`.
fn case(body: Vec<u8>, code: i64, mentions: &'static str) -> Case {
    Case {
        body,
        headers: Vec::new(),
        status: StatusCode::OK,
        code,
        mentions,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: Option<&str>) -> Case {
        self.headers.push((name, value.map(str::to_owned)));
        self
    }

    fn status(mut self, status: StatusCode) -> Case {
        self.status = status;
        self
    }

    async fn check(&self, client: &Client) {
        let headers: Vec<(&str, Option<&str>)> = self.headers.iter().map(|(n, v)| (*n, v.as_deref())).collect();
        let (status, got) = client.post(self.body.clone(), &headers).await;
        let shown = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
        assert_eq!(status, self.status, "HTTP status for {shown}: {got}");
        let code = got["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("expected a JSON-RPC error, got {got}"));
        assert_eq!(code, self.code, "code for {shown}: {got}");
        let text = got["error"]["message"].as_str().unwrap_or_default();
        assert!(
            text.contains(self.mentions),
            "error {text:?} should mention {:?}",
            self.mentions
        );
    }
}

async fn written(stack: &Stack) -> (i64, i64) {
    (stack.db.count("tasks").await, stack.db.count("contexts").await)
}

fn send_params(parts: Value) -> Value {
    json!({ "message": message(parts, Some("bad-ctx")) })
}

fn rpc(method: &str, params: Value) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params })
        .to_string()
        .into_bytes()
}

fn hello() -> Vec<u8> {
    rpc("message/send", send_params(json!([{"kind": "text", "text": "hello"}])))
}

/// Envelope, method, params, product, quantity, headers and profile errors: each precise, none
/// writes a task or a conversation.
#[tokio::test]
async fn malformed_requests_get_precise_errors_and_write_nothing() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("mallory");
    let add = |quantity: Value| {
        let add = json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": quantity});
        rpc("message/send", send_params(action(add)))
    };
    let send = |message: Value| rpc("message/send", json!({ "message": message }));
    let future = format!("profile=\"{}/future.json\"", stack.profile_base);
    let huge = rpc(
        "message/send",
        send_params(json!([{"kind": "text", "text": "x".repeat(300 * 1024)}])),
    );
    let deep = rpc(
        "message/send",
        send_params(json!([{"kind": "data", "data": {"nested": serde_json::from_str::<Value>(&format!("{}1{}", "[".repeat(40), "]".repeat(40))).unwrap()}}])),
    );
    let long_text = rpc("message/send", send_params(json!([{"kind": "text", "text": "x".repeat(16 * 1024 + 1)}])));
    let too_many_parts = rpc("message/send", send_params(Value::Array(vec![json!({"kind": "text", "text": "hi"}); 33])));
    let cases = [
        case(b"{not json".to_vec(), -32700, "parse error"),
        case(
            br#"{"jsonrpc":"1.0","id":1,"method":"tasks/get","params":{"id":"x"}}"#.to_vec(),
            -32600,
            "jsonrpc",
        ),
        case(
            br#"[{"jsonrpc":"2.0","id":1,"method":"tasks/get"}]"#.to_vec(),
            -32600,
            "batch",
        ),
        case(rpc("tasks/explode", json!({})), -32601, "tasks/explode"),
        case(
            send(json!({"kind": "message", "role": "user", "parts": [{"kind": "text", "text": "hi"}]})),
            -32602,
            "messageId",
        ),
        case(
            send(
                json!({"kind": "message", "role": "agent", "messageId": "m", "parts": [{"kind": "text", "text": "hi"}]}),
            ),
            -32602,
            "role",
        ),
        case(
            send(json!({"kind": "message", "role": "user", "messageId": "m", "parts": []})),
            -32602,
            "parts",
        ),
        case(
            rpc(
                "message/send",
                send_params(action(json!({"action": "add_to_checkout", "product_id": "NOPE-404"}))),
            ),
            -32602,
            "unknown product",
        ),
        case(add(json!(0)), -32602, "quantity"),
        case(add(json!(-2)), -32602, "quantity"),
        case(add(json!(1_000_000_000)), -32602, "quantity"),
        case(add(json!("2")), -32602, "add_to_checkout"),
        case(
            rpc("message/send", send_params(action(json!({"action": "teleport"})))),
            -32602,
            "unknown action",
        ),
        case(
            rpc(
                "message/send",
                send_params(action(json!({"action": "complete_checkout"}))),
            ),
            -32602,
            "payment",
        ),
        case(rpc("tasks/get", json!({"id": 5})), -32602, "id"),
        case(hello(), -32602, "UCP-Agent").header("ucp-agent", None),
        case(hello(), -32602, "malformed UCP-Agent").header("ucp-agent", Some("profile=unquoted")),
        case(hello(), -32602, "could not use the UCP profile")
            .header("ucp-agent", Some("profile=\"http://127.0.0.1:9/\"")),
        case(hello(), -32602, "VERSION_UNSUPPORTED").header("ucp-agent", Some(&future)),
        case(hello(), -32602, "UCP extension is required").header("x-a2a-extensions", None),
        case(hello(), -32005, "content type").header("content-type", Some("text/plain")),
        case(huge, -32600, "larger than").status(StatusCode::PAYLOAD_TOO_LARGE),
        case(deep, -32600, "deeper than 32 levels"),
        case(long_text, -32602, "text is longer than 16384 bytes"),
        case(too_many_parts, -32602, "more than 32 parts"),
        case(hello(), -32600, "headers are larger than 16384 bytes")
            .header("x-padding", Some(&"p".repeat(20 * 1024)))
            .status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
    ];
    for case in &cases {
        case.check(&client).await;
    }
    assert_eq!(written(&stack).await, (0, 0), "no bad request wrote anything");
}

/// Missing, expired and forged tokens get 401 with a JSON-RPC error body.
#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let mut client = stack.client("eve");
    let unauthorized = |mentions| case(hello(), -32600, mentions).status(StatusCode::UNAUTHORIZED);
    unauthorized("missing Authorization")
        .header("authorization", None)
        .check(&client)
        .await;
    unauthorized("Bearer")
        .header("authorization", Some("Basic Zm9vOmJhcg=="))
        .check(&client)
        .await;
    client.token = token("eve", -120);
    unauthorized("expired").check(&client).await;
    client.token = format!("{}x", token("eve", 600));
    unauthorized("invalid").check(&client).await;
    assert_eq!(written(&stack).await, (0, 0));
}

/// Another principal's task is "not found", for reading, for cancelling and for a message
/// naming it; another principal's context is "not found" for a message naming it (actions and
/// chat alike), and its checkout stays out of reach; a message to a finished task is refused;
/// a finished task cannot be cancelled.
#[tokio::test]
async fn tasks_are_private_to_their_principal() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let alice = stack.client("alice");
    let bob = stack.client("bob");
    let add = json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1});
    let task = alice.act(add, Some("alice-ctx")).await;
    let id = task["id"].as_str().unwrap();
    let before = written(&stack).await;

    let mut to_finished = message_with_id("late", json!([{"kind": "text", "text": "more"}]), Some("alice-ctx"));
    to_finished["taskId"] = json!(id);
    let send_to_finished = || rpc("message/send", json!({ "message": to_finished.clone() }));
    case(rpc("tasks/get", json!({"id": id})), -32001, "not found")
        .check(&bob)
        .await;
    case(rpc("tasks/cancel", json!({"id": id})), -32001, "not found")
        .check(&bob)
        .await;
    case(
        rpc("tasks/get", json!({"id": uuid::Uuid::new_v4().to_string()})),
        -32001,
        "not found",
    )
    .check(&alice)
    .await;
    case(rpc("tasks/cancel", json!({"id": id})), -32002, "completed")
        .check(&alice)
        .await;
    case(send_to_finished(), -32004, "completed").check(&alice).await;
    case(send_to_finished(), -32001, "not found").check(&bob).await;
    for parts in [
        action(json!({"action": "get_checkout"})),
        action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 5})),
        action(json!({"action": "cancel_checkout"})),
        json!([{"kind": "text", "text": "what is in my cart?"}]),
    ] {
        let into_alices = rpc("message/send", json!({ "message": message_with_id(&uuid::Uuid::new_v4().to_string(), parts, Some("alice-ctx")) }));
        case(into_alices, -32001, "context not found").check(&bob).await;
    }
    assert_eq!(written(&stack).await, before, "refused requests wrote nothing");
    let checkout = checkout_of(&alice.act(json!({"action": "get_checkout"}), Some("alice-ctx")).await).unwrap();
    assert_eq!(checkout["status"], "incomplete", "bob's messages did not touch alice's checkout");
    assert_eq!(checkout["line_items"][0]["quantity"], 1);
    let bobs = bob.act(json!({"action": "get_checkout"}), Some("bob-ctx")).await;
    assert!(checkout_of(&bobs).is_none(), "bob's own conversation has no checkout of alice's");

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

/// Adds of the most one message may ask for, repeated, stop at the line's cap: the add that
/// would pass it is refused with a UCP error and changes nothing.
#[tokio::test]
async fn repeated_adds_cannot_pass_the_quantity_cap() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("hoarder");
    let add = json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 10000});
    let first = checkout_of(&client.act(add.clone(), Some("cap-ctx")).await).unwrap();
    assert_eq!(first["line_items"][0]["quantity"], 10000);
    let second = checkout_of(&client.act(add, Some("cap-ctx")).await).unwrap();
    assert_eq!(second["line_items"][0]["quantity"], 10000, "{second}");
    assert!(second["messages"].to_string().contains("quantity_limit"), "{second}");
}
