//! A JSON-RPC client for the ingress, sending what the UCP sample's clients send.

use reqwest::StatusCode;
use serde_json::{json, Value};

pub const EXTENSION_URI: &str = "https://ucp.dev/specification/reference?v=2026-01-11";

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub profile: String,
}

/// A user message with a fresh messageId.
pub fn message(parts: Value, context_id: Option<&str>) -> Value {
    message_with_id(&uuid::Uuid::new_v4().to_string(), parts, context_id)
}

pub fn message_with_id(message_id: &str, parts: Value, context_id: Option<&str>) -> Value {
    let mut message = json!({ "kind": "message", "role": "user", "messageId": message_id, "parts": parts });
    if let Some(context_id) = context_id {
        message["contextId"] = json!(context_id);
    }
    message
}

/// A DataPart action.
pub fn action(action: Value) -> Value {
    json!([{ "kind": "data", "data": action }])
}

impl Client {
    /// POSTs a JSON-RPC request with all the usual headers; returns status and body.
    pub async fn rpc(&self, method: &str, params: Value) -> (StatusCode, Value) {
        let body =
            json!({ "jsonrpc": "2.0", "id": uuid::Uuid::new_v4().to_string(), "method": method, "params": params });
        self.post(body.to_string().into_bytes(), &[]).await
    }

    /// POSTs raw bytes with the usual headers, plus or minus some.
    pub async fn post(&self, body: Vec<u8>, headers: &[(&str, Option<&str>)]) -> (StatusCode, Value) {
        let (status, _, value) = self.post_with_headers(body, headers).await;
        (status, value)
    }

    /// As [`Client::post`], also returning the response's headers.
    pub async fn post_with_headers(
        &self,
        body: Vec<u8>,
        headers: &[(&str, Option<&str>)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut map = vec![
            ("authorization".to_owned(), Some(format!("Bearer {}", self.token))),
            ("content-type".to_owned(), Some("application/json".to_owned())),
            ("x-a2a-extensions".to_owned(), Some(EXTENSION_URI.to_owned())),
            ("ucp-agent".to_owned(), Some(format!("profile=\"{}\"", self.profile))),
        ];
        for (name, value) in headers {
            map.retain(|(n, _)| n != name);
            map.push((name.to_string(), value.map(str::to_owned)));
        }
        let mut request = self.http.post(format!("{}/", self.base)).body(body);
        for (name, value) in map {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.expect("ingress answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        (status, headers, value)
    }

    /// `message/send` with the usual headers, returning the raw HTTP response (or the transport
    /// error), for tests that look at outages: status, `Retry-After`, refused connections.
    pub async fn send_raw(&self, message: &Value, blocking: bool) -> reqwest::Result<reqwest::Response> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "message/send",
            "params": {"message": message, "configuration": {"blocking": blocking}}});
        self.http
            .post(format!("{}/", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("x-a2a-extensions", EXTENSION_URI)
            .header("ucp-agent", format!("profile=\"{}\"", self.profile))
            .json(&body)
            .send()
            .await
    }

    /// `message/send`; returns the Task, failing the test on an error answer.
    pub async fn send(&self, message: Value, blocking: bool) -> Value {
        let (status, body) = self
            .rpc(
                "message/send",
                json!({ "message": message, "configuration": { "blocking": blocking } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "message/send failed: {body}");
        body.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("message/send answered an error: {body}"))
    }

    /// `tasks/get`; returns the Task.
    pub async fn get_task(&self, id: &str) -> Value {
        let (_, body) = self.rpc("tasks/get", json!({ "id": id })).await;
        body.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("tasks/get answered an error: {body}"))
    }

    /// Polls `tasks/get` until the task is in `state` (bounded by `timeout`); returns it.
    pub async fn wait_for_state(&self, id: &str, state: &str, timeout: std::time::Duration) -> Value {
        crate::eventually(timeout, &format!("task {id} to be {state}"), || async move {
            let task = self.get_task(id).await;
            (task["status"]["state"] == state).then_some(task)
        })
        .await
    }

    /// Sends an action and waits for its task; returns the task.
    pub async fn act(&self, action_json: Value, context_id: Option<&str>) -> Value {
        self.send(message(action(action_json), context_id), true).await
    }
}

/// The checkout in a task's status message, if any.
pub fn checkout_of(task: &Value) -> Option<Value> {
    data_part(task, "a2a.ucp.checkout")
}

/// The value under `key` in a DataPart of the task's status message.
pub fn data_part(task: &Value, key: &str) -> Option<Value> {
    task["status"]["message"]["parts"]
        .as_array()?
        .iter()
        .find_map(|part| part["data"].get(key).cloned())
}

/// The quantity of a product in a checkout (0 when it has no line).
pub fn quantity(checkout: &Value, product_id: &str) -> i64 {
    checkout["line_items"]
        .as_array()
        .and_then(|lines| lines.iter().find(|line| line["item"]["id"] == product_id))
        .and_then(|line| line["quantity"].as_i64())
        .unwrap_or(0)
}
