//! A fake model provider: an HTTP server speaking Gemini's `generateContent` and OpenAI's
//! `chat/completions` wire formats, with a deterministic brain and fault controls. Tests and
//! the benchmark point `LLM_BASE_URL` at it ([`FakeLlm::gemini_url`], [`FakeLlm::openai_url`]).
//!
//! # The brain
//! It reads the user's latest text and the steps taken since (model replies and tool results):
//! - Lines of the form `call <tool> <json args>` are a script: step *k* calls the *k*-th tool,
//!   and after the last one the model answers in text.
//! - `loop forever` makes every step call `get_checkout` (to hit `LLM_MAX_STEPS`).
//! - `blocked` makes the provider withhold its answer (Gemini `SAFETY`, OpenAI
//!   `content_filter`).
//! - Any other text: step 0 searches the catalog for the text, step 1 answers.
//!
//! The text answer names the last tool's `result`, so tests can see the model read it. Gemini
//! function calls carry a thought signature that must come back verbatim in later requests (as
//! Gemini 3 requires); a request without it is refused with 400.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// The thought signature the fake Gemini puts on its function calls.
pub const SIGNATURE: &str = "fake-thought-signature";

/// What the next request gets instead of an answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This HTTP status with a provider-style error body, and `Retry-After` if given.
    Status { status: u16, retry_after: Option<u64> },
    /// No answer at all (the connection stays open for an hour).
    Hang,
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `gemini` or `openai`.
    pub dialect: &'static str,
    pub path: String,
    /// The API key it came with (`x-goog-api-key` or the bearer token).
    pub key: Option<String>,
    pub body: Value,
    /// Every header of the request (a `traceparent` among them, when the worker traces).
    pub headers: HeaderMap,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Faults {
    /// Faults for the next requests, in order.
    next: VecDeque<Fault>,
    /// A fault for every request while set.
    always: Option<Fault>,
}

struct Shared {
    received: Mutex<Vec<Received>>,
    faults: Mutex<Faults>,
    latency_ms: AtomicU64,
    /// Requests answered with a model reply.
    answered: AtomicU64,
    /// Record request bodies (off in the benchmark, to keep memory flat).
    record: bool,
}

/// A running fake provider.
#[derive(Clone)]
pub struct FakeLlm {
    pub base: String,
    shared: Arc<Shared>,
}

impl FakeLlm {
    /// Starts the fake on a free port, recording every request.
    pub async fn start() -> FakeLlm {
        FakeLlm::start_with(true).await
    }

    /// Starts the fake; `record` keeps each request's body for [`FakeLlm::received`].
    pub async fn start_with(record: bool) -> FakeLlm {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            faults: Mutex::new(Faults::default()),
            latency_ms: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            record,
        });
        let app = Router::new()
            .route("/v1beta/models/{model_action}", post(gemini))
            .route("/v1/chat/completions", post(openai))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind fake LLM");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeLlm { base, shared }
    }

    /// `LLM_BASE_URL` for the Gemini dialect.
    pub fn gemini_url(&self) -> String {
        format!("{}/v1beta", self.base)
    }

    /// `LLM_BASE_URL` for the OpenAI dialect.
    pub fn openai_url(&self) -> String {
        format!("{}/v1", self.base)
    }

    /// Worker environment for this fake as the primary provider in `dialect`.
    pub fn env(&self, dialect: &str) -> Vec<(String, String)> {
        let (url, key_var) = match dialect {
            "gemini" => (self.gemini_url(), "GOOGLE_API_KEY"),
            _ => (self.openai_url(), "OPENAI_API_KEY"),
        };
        vec![
            ("LLM_PROVIDER".into(), dialect.into()),
            ("LLM_BASE_URL".into(), url),
            (key_var.into(), format!("fake-{dialect}-key")),
        ]
    }

    /// The next `count` requests fail with `status` (and `Retry-After`, if given).
    pub fn fail_next(&self, count: usize, status: u16, retry_after: Option<u64>) {
        let mut faults = self.faults();
        faults.next.extend((0..count).map(|_| Fault::Status { status, retry_after }));
    }

    /// The next `count` requests get no answer.
    pub fn hang_next(&self, count: usize) {
        self.faults().next.extend((0..count).map(|_| Fault::Hang));
    }

    /// Every request gets `fault` until [`FakeLlm::recover`].
    pub fn fail_all(&self, fault: Fault) {
        self.faults().always = Some(fault);
    }

    /// Ends [`FakeLlm::fail_all`] and drops pending faults.
    pub fn recover(&self) {
        *self.faults() = Faults::default();
    }

    /// Each answer waits this long first.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.latency_ms.store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// Every request received so far (answered or not).
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// How many requests were answered with a model reply.
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::Relaxed)
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.shared.faults.lock().unwrap()
    }
}

/// What the brain decided for one step.
enum Decision {
    Call { name: String, args: Map<String, Value> },
    Answer(String),
    Blocked,
}

/// The brain: the latest user text, the steps since, and the last tool result's `result`.
fn decide(user: &str, steps: usize, last_result: Option<&str>) -> Decision {
    if user.lines().any(|l| l.trim() == "blocked") {
        return Decision::Blocked;
    }
    if user.lines().any(|l| l.trim() == "loop forever") {
        return Decision::Call {
            name: "get_checkout".into(),
            args: Map::new(),
        };
    }
    let script: Vec<(String, Map<String, Value>)> = user
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("call ")?;
            let (name, args) = rest.split_once(' ').unwrap_or((rest, "{}"));
            let args = serde_json::from_str::<Map<String, Value>>(args.trim()).unwrap_or_default();
            Some((name.to_owned(), args))
        })
        .collect();
    let script = if script.is_empty() {
        let mut args = Map::new();
        args.insert("query".into(), Value::String(user.to_owned()));
        vec![("search_shopping_catalog".to_owned(), args)]
    } else {
        script
    };
    match script.into_iter().nth(steps) {
        Some((name, args)) => Decision::Call { name, args },
        None => Decision::Answer(format!("Fake model answer after {steps} tool step(s): {}", last_result.unwrap_or("nothing"))),
    }
}

/// Waits out the configured latency and applies a pending fault, if any.
async fn prelude(shared: &Shared, received: Received) -> Option<Response> {
    let fault = {
        let mut faults = shared.faults.lock().unwrap();
        faults.next.pop_front().or_else(|| faults.always.clone())
    };
    if shared.record {
        shared.received.lock().unwrap().push(received);
    }
    let latency = shared.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match fault {
        None => None,
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Some(StatusCode::GATEWAY_TIMEOUT.into_response())
        }
        Some(Fault::Status { status, retry_after }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({ "error": { "code": status.as_u16(), "message": "fake provider fault", "status": "UNAVAILABLE" } });
            let mut response = (status, Json(body)).into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().expect("header value"));
            }
            Some(response)
        }
    }
}

fn usage_of(body: &Value) -> (i64, i64) {
    ((body.to_string().len() / 4) as i64, 12)
}

async fn gemini(State(shared): State<Arc<Shared>>, Path(model_action): Path<String>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let key = headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let received = Received {
        dialect: "gemini",
        path: model_action.clone(),
        key,
        body: body.clone(),
        headers: headers.clone(),
        at: std::time::Instant::now(),
    };
    if let Some(response) = prelude(&shared, received).await {
        return response;
    }
    if !model_action.ends_with(":generateContent") {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": { "code": 404, "message": "unknown method" } }))).into_response();
    }
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    let unsigned = contents.iter().filter(|c| c["role"] == "model").flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default()).any(|p| {
        p.get("functionCall").is_some() && p.get("thoughtSignature").and_then(Value::as_str) != Some(SIGNATURE)
    });
    if unsigned {
        let error = json!({ "error": { "code": 400, "message": "Function call is missing a thought_signature", "status": "INVALID_ARGUMENT" } });
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    // The user's latest text: the last user content with a text part.
    let user_at = contents
        .iter()
        .rposition(|c| c["role"] == "user" && c["parts"].as_array().is_some_and(|p| p.iter().any(|p| p.get("text").is_some())));
    let user = user_at
        .and_then(|i| contents[i]["parts"][0]["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    let since = user_at.map_or(0, |i| contents.len() - i - 1);
    let last_result = contents
        .last()
        .and_then(|c| c["parts"].as_array())
        .and_then(|parts| parts.last())
        .and_then(|p| p.pointer("/functionResponse/response/result"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (prompt, completion) = usage_of(&body);
    let usage = json!({ "promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion });
    let (parts, finish) = match decide(&user, since / 2, last_result.as_deref()) {
        Decision::Blocked => (json!([]), "SAFETY"),
        Decision::Answer(text) => (json!([{ "text": text }]), "STOP"),
        Decision::Call { name, args } => (
            json!([{ "functionCall": { "name": name, "args": args }, "thoughtSignature": SIGNATURE }]),
            "STOP",
        ),
    };
    shared.answered.fetch_add(1, Ordering::Relaxed);
    Json(json!({
        "candidates": [{ "content": { "role": "model", "parts": parts }, "finishReason": finish, "index": 0 }],
        "usageMetadata": usage,
        "modelVersion": model_action.split(':').next(),
    }))
    .into_response()
}

async fn openai(State(shared): State<Arc<Shared>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let received = Received {
        dialect: "openai",
        path: "chat/completions".into(),
        key,
        body: body.clone(),
        headers: headers.clone(),
        at: std::time::Instant::now(),
    };
    if let Some(response) = prelude(&shared, received).await {
        return response;
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let user_at = messages.iter().rposition(|m| m["role"] == "user");
    let user = user_at
        .and_then(|i| messages[i]["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let steps = user_at.map_or(0, |i| messages[i + 1..].iter().filter(|m| m["role"] == "assistant").count());
    let last_result = messages
        .last()
        .filter(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .and_then(|c| c["result"].as_str().map(str::to_owned));
    let (prompt, completion) = usage_of(&body);
    let (message, finish) = match decide(&user, steps, last_result.as_deref()) {
        Decision::Blocked => (json!({ "role": "assistant", "content": null }), "content_filter"),
        Decision::Answer(text) => (json!({ "role": "assistant", "content": text }), "stop"),
        Decision::Call { name, args } => (
            json!({ "role": "assistant", "content": null, "tool_calls": [{
                "id": format!("call_{}_{steps}", uuid::Uuid::new_v4().simple()),
                "type": "function",
                "function": { "name": name, "arguments": Value::Object(args).to_string() },
            }] }),
            "tool_calls",
        ),
    };
    shared.answered.fetch_add(1, Ordering::Relaxed);
    Json(json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion },
    }))
    .into_response()
}
