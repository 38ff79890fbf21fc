//! The UCP REST binding from the platform's side: a client for `/checkout-sessions` and
//! `/orders` sending the headers UCP platforms send (`Authorization`, `UCP-Agent`,
//! `Idempotency-Key`), the flower shop data set and request bodies for it, and a webhook
//! receiver that also serves the platform profile naming it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::Stack;

/// The payment handler the REST tests pay with.
pub const MOCK_HANDLER: &str = "mock_payment_handler";

/// The flower shop merchant data set (`../shared/flower-shop`).
pub fn flower_shop_dir() -> std::path::PathBuf {
    crate::repo_root().join("../shared/flower-shop")
}

/// Loads the flower shop into the stack's database with the ingress CLI. Call it before the
/// stack's first request: the processes cache the catalog and the pricing rules once read.
pub fn load_flower_shop(stack: &Stack) {
    let dir = flower_shop_dir();
    let (ok, stdout, stderr) = stack.cli(&["migrate", "--merchant-data", dir.to_str().expect("a UTF-8 path")]);
    assert!(
        ok,
        "loading the flower shop failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
}

/// One HTTP answer: its status, its body as JSON (`{"raw": text}` when it is not JSON) and its
/// bytes as sent.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
    pub raw: Bytes,
}

impl Reply {
    /// The UCP error `code` of an error body ("" when there is none).
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }

    /// The error body's `detail` ("" when there is none).
    pub fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or_default()
    }

    /// Fails the test unless the status is `expected`, showing the body.
    #[track_caller]
    pub fn expect(&self, expected: u16, what: &str) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "{what}: expected HTTP {expected}, got {} with body {}",
            self.status,
            String::from_utf8_lossy(&self.raw)
        );
        &self.json
    }
}

/// A client of the ingress's REST binding.
#[derive(Clone)]
pub struct RestClient {
    pub http: reqwest::Client,
    pub base: String,
    /// The bearer token; `None` sends no `Authorization` header.
    pub token: Option<String>,
    /// The `UCP-Agent` profile (by default the stack's profile server's platform profile).
    pub profile: String,
}

impl RestClient {
    /// A client authenticated as `principal` with a bearer JWT, presenting the stack's platform
    /// profile.
    pub fn new(stack: &Stack, principal: &str) -> RestClient {
        RestClient {
            http: reqwest::Client::new(),
            base: stack.base_url.clone(),
            token: Some(crate::stack::token(principal, 3600)),
            profile: format!("{}/profile.json", stack.profile_base),
        }
    }

    /// A client that sends no credentials.
    pub fn anonymous(stack: &Stack) -> RestClient {
        RestClient {
            token: None,
            ..RestClient::new(stack, "nobody")
        }
    }

    /// The same client presenting another `UCP-Agent` profile.
    pub fn with_profile(mut self, profile: &str) -> RestClient {
        self.profile = profile.to_owned();
        self
    }

    /// `POST path` with `body` as JSON and `Idempotency-Key: key` (a fresh one when `None`).
    pub async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Reply {
        self.send("POST", path, Some(body.to_string().into_bytes()), key, &[])
            .await
    }

    /// `PUT path` with `body` as JSON and `Idempotency-Key: key` (a fresh one when `None`).
    pub async fn put(&self, path: &str, body: &Value, key: Option<&str>) -> Reply {
        self.send("PUT", path, Some(body.to_string().into_bytes()), key, &[])
            .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, None, &[]).await
    }

    /// Any request with the usual headers (bearer token, `UCP-Agent`, a JSON content type, and
    /// on POST and PUT `Idempotency-Key`: `key` or a fresh one), each of which `headers`
    /// replaces (`Some`) or removes (`None`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        key: Option<&str>,
        headers: &[(&str, Option<&str>)],
    ) -> Reply {
        let mut map: Vec<(String, Option<String>)> = vec![
            (
                "authorization".to_owned(),
                self.token.as_ref().map(|t| format!("Bearer {t}")),
            ),
            ("ucp-agent".to_owned(), Some(format!("profile=\"{}\"", self.profile))),
        ];
        if body.is_some() {
            map.push(("content-type".to_owned(), Some("application/json".to_owned())));
        }
        if method != "GET" {
            let key = key.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
            map.push(("idempotency-key".to_owned(), Some(key)));
        }
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            map.retain(|(n, _)| *n != name);
            map.push((name, value.map(str::to_owned)));
        }
        let method: reqwest::Method = method.parse().expect("an HTTP method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in map {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("the ingress answers");
        let status = response.status();
        let raw = response.bytes().await.expect("the response body");
        let json = serde_json::from_slice(&raw)
            .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&raw).into_owned() }));
        Reply { status, json, raw }
    }

    /// `POST /checkout-sessions`, which must answer 201; returns the checkout.
    pub async fn create(&self, body: &Value) -> Value {
        self.post("/checkout-sessions", body, None)
            .await
            .expect(201, "POST /checkout-sessions")
            .clone()
    }

    /// `PUT /checkout-sessions/{id}`, which must answer 200; returns the checkout.
    pub async fn update(&self, id: &str, body: &Value) -> Value {
        self.put(&format!("/checkout-sessions/{id}"), body, None)
            .await
            .expect(200, &format!("PUT /checkout-sessions/{id}"))
            .clone()
    }

    /// `POST /checkout-sessions/{id}/complete` paying with `credential` through the mock
    /// handler (a fresh key).
    pub async fn complete(&self, id: &str, credential: Value) -> Reply {
        self.post(
            &format!("/checkout-sessions/{id}/complete"),
            &payment_body(credential),
            None,
        )
        .await
    }

    /// A checkout of `items` that is `ready_for_complete` (see [`ready_body`]), created in one
    /// request.
    pub async fn ready_checkout(&self, items: &[(&str, i64)]) -> Value {
        let checkout = self.create(&ready_body(items)).await;
        assert_eq!(checkout["status"], "ready_for_complete", "a ready checkout: {checkout}");
        checkout
    }
}

/// A product's stock (it must have an inventory row).
pub async fn stock(stack: &Stack, product_id: &str) -> i64 {
    sqlx::query_scalar("SELECT quantity FROM inventory WHERE product_id = $1")
        .bind(product_id)
        .fetch_one(&stack.db.pool)
        .await
        .expect("read stock")
}

/// A create body for the flower shop: `(product id, quantity)` lines in USD.
pub fn checkout_body(items: &[(&str, i64)]) -> Value {
    let lines: Vec<Value> = items
        .iter()
        .map(|(id, quantity)| json!({"item": {"id": id}, "quantity": quantity}))
        .collect();
    json!({"currency": "USD", "line_items": lines})
}

/// A create body for a checkout of `items` that is ready at once: buyer
/// john.doe@example.com, shipped to his saved address `addr_1` with standard shipping.
pub fn ready_body(items: &[(&str, i64)]) -> Value {
    let mut body = checkout_body(items);
    body["buyer"] = json!({"first_name": "John", "last_name": "Doe", "email": "john.doe@example.com"});
    body["fulfillment"] = json!({"methods": [{"type": "shipping", "selected_destination_id": "addr_1",
        "groups": [{"selected_option_id": "std-ship"}]}]});
    body
}

/// A `complete` body paying with `credential` through the mock handler.
pub fn payment_body(credential: Value) -> Value {
    json!({"payment_data": {"id": "instr_1", "handler_id": MOCK_HANDLER, "type": "card", "brand": "Visa",
        "credential": credential}})
}

/// The mock handler's credential that authorises.
pub fn success_token() -> Value {
    json!({"type": "token", "token": "success_token"})
}

/// The amount of the totals entry of type `kind` (`None` when there is none).
pub fn total(document: &Value, kind: &str) -> Option<i64> {
    document["totals"]
        .as_array()?
        .iter()
        .find(|t| t["type"] == kind)
        .and_then(|t| t["amount"].as_i64())
}

/// Shipping options of the checkout's first group: `(id, title, amount)`.
pub fn options(checkout: &Value) -> Vec<(String, String, i64)> {
    checkout["fulfillment"]["methods"][0]["groups"][0]["options"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            (
                o["id"].as_str().unwrap_or_default().to_owned(),
                o["title"].as_str().unwrap_or_default().to_owned(),
                total(o, "total").unwrap_or(-1),
            )
        })
        .collect()
}

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Value,
    /// Whether the receiver answered 2xx (it did not for the first `fail_first`).
    pub acknowledged: bool,
}

#[derive(Default)]
struct Inbox {
    fail_first: usize,
    seen: AtomicUsize,
    deliveries: Mutex<Vec<Delivery>>,
}

/// A platform's order webhook on 127.0.0.1: records every event POSTed to
/// `/webhooks/order`, answering 503 to the first `fail_first` and 200 after; serves
/// `/profile.json`, the test platform profile plus `dev.ucp.shopping.order` whose
/// `config.webhook_url` is that endpoint. Runs until the test's runtime ends.
pub struct WebhookReceiver {
    pub base: String,
    pub port: u16,
    inbox: Arc<Inbox>,
}

impl WebhookReceiver {
    pub async fn start(fail_first: usize) -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook receiver");
        let port = listener.local_addr().expect("address").port();
        let base = format!("http://127.0.0.1:{port}");
        let mut profile: Value = serde_json::from_str(crate::profile::PLATFORM_PROFILE).expect("the platform profile");
        profile["ucp"]["capabilities"]
            .as_array_mut()
            .expect("capabilities")
            .push(json!({
                "name": "dev.ucp.shopping.order",
                "version": "2026-01-11",
                "spec": "https://ucp.dev/specs/shopping/order",
                "schema": "https://ucp.dev/schemas/shopping/order.json",
                "config": {"webhook_url": format!("{base}/webhooks/order")}
            }));
        let profile = profile.to_string();
        let inbox = Arc::new(Inbox {
            fail_first,
            ..Default::default()
        });
        let app = Router::new()
            .route(
                "/profile.json",
                get(move || async move { ([("content-type", "application/json")], profile) }),
            )
            .route("/webhooks/order", post(receive))
            .with_state(inbox.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        WebhookReceiver { base, port, inbox }
    }

    /// The `UCP_PROFILE_ALLOWLIST` entry naming this receiver (http on loopback).
    pub fn allowlist_entry(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The platform profile naming the webhook.
    pub fn profile_url(&self) -> String {
        format!("{}/profile.json", self.base)
    }

    /// Every request received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inbox.deliveries.lock().unwrap().clone()
    }

    /// The events acknowledged (answered 2xx) so far, in arrival order.
    pub fn acknowledged(&self) -> Vec<Value> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.acknowledged)
            .map(|d| d.body)
            .collect()
    }
}

async fn receive(State(inbox): State<Arc<Inbox>>, body: Bytes) -> StatusCode {
    let n = inbox.seen.fetch_add(1, Ordering::SeqCst);
    let acknowledged = n >= inbox.fail_first;
    let body =
        serde_json::from_slice(&body).unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&body).into_owned() }));
    inbox.deliveries.lock().unwrap().push(Delivery { body, acknowledged });
    if acknowledged {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
