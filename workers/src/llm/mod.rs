//! Model providers: Gemini's `generateContent` and OpenAI-compatible `chat/completions`, each in
//! its real wire format, behind one dialect-neutral request and reply ([`schemas::agent`]).
//!
//! - [`gemini`], [`openai`]: encode a [`ModelRequest`], decode the provider's answer.
//! - [`breaker`]: a circuit breaker per provider.
//! - [`router`]: timeouts, retries with jittered backoff honouring `Retry-After`, the breaker,
//!   the concurrency cap and the fallback provider.

pub mod breaker;
pub mod gemini;
pub mod openai;
pub mod router;

use std::time::Duration;

use lifecycle::secret::Secret;
use schemas::agent::{ModelReply, ToolResult};
use serde_json::value::RawValue;
use serde_json::Value;

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Gemini,
    OpenAi,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Gemini => "gemini",
            Dialect::OpenAi => "openai",
        }
    }
}

/// One entry of the conversation a model is shown.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// The user's text.
    User(&'a str),
    /// The agent's answer in an earlier turn.
    Agent(&'a str),
    /// A model reply of this turn (text and tool calls).
    Model(&'a ModelReply),
    /// The results of the tools a model reply asked for.
    Tools(&'a [ToolResult]),
}

/// A tool the model may call: its name, what it does, and its parameters as JSON Schema.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// `None` for a tool that takes no parameters.
    pub parameters: Option<Value>,
}

/// The tools, encoded once per dialect.
pub struct Tools {
    gemini: Box<RawValue>,
    openai: Box<RawValue>,
}

impl Tools {
    pub fn new(specs: &[ToolSpec]) -> Tools {
        Tools {
            gemini: gemini::encode_tools(specs),
            openai: openai::encode_tools(specs),
        }
    }

    fn gemini(&self) -> &RawValue {
        &self.gemini
    }

    fn openai(&self) -> &RawValue {
        &self.openai
    }
}

/// What a model is asked.
pub struct ModelRequest<'a> {
    pub system: &'a str,
    pub entries: &'a [Entry<'a>],
    pub tools: &'a Tools,
}

/// A provider endpoint: dialect, model, base URL and key.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub dialect: Dialect,
    pub model: String,
    pub base_url: String,
    pub api_key: Option<Secret>,
}

/// Why one model call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Worth retrying: 429, 5xx, a timeout, a broken connection. `retry_after` is what the
    /// provider asked for.
    #[error("{detail}")]
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The provider refuses our credentials or does not know the model: no call to it can
    /// succeed until an operator fixes the configuration.
    #[error("{0}")]
    Misconfigured(String),
    /// This request can never succeed: bad request, content blocked.
    #[error("{0}")]
    Rejected(String),
    /// The provider's circuit is open; try again in this long.
    #[error("circuit open")]
    CircuitOpen(Duration),
}

impl CallError {
    fn transient(detail: impl Into<String>) -> CallError {
        CallError::Transient {
            detail: detail.into(),
            retry_after: None,
        }
    }
}

/// Sends one request to `endpoint` and decodes its answer.
pub async fn call(http: &reqwest::Client, endpoint: &Endpoint, request: &ModelRequest<'_>, step: usize) -> Result<ModelReply, CallError> {
    let (url, body) = match endpoint.dialect {
        Dialect::Gemini => (
            format!("{}/models/{}:generateContent", endpoint.base_url.trim_end_matches('/'), endpoint.model),
            gemini::encode(request),
        ),
        Dialect::OpenAi => (
            format!("{}/chat/completions", endpoint.base_url.trim_end_matches('/')),
            openai::encode(request, &endpoint.model),
        ),
    };
    // The model call's span (the caller's) continues at the provider, if it traces.
    let mut headers = reqwest::header::HeaderMap::new();
    lifecycle::telemetry::inject_http(&tracing::Span::current(), &mut headers);
    let mut builder = http
        .post(url)
        .headers(headers)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(key) = &endpoint.api_key {
        let key = key.expose();
        builder = match endpoint.dialect {
            Dialect::Gemini => builder.header("x-goog-api-key", key),
            Dialect::OpenAi => builder.bearer_auth(key),
        };
    }
    let response = builder.send().await.map_err(|e| CallError::transient(describe(&e)))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let bytes = response.bytes().await.map_err(|e| CallError::transient(describe(&e)))?;
    let value: Option<Value> = serde_json::from_slice(&bytes).ok();
    if !status.is_success() {
        return Err(http_error(endpoint, status, retry_after, value.as_ref()));
    }
    let value = value.ok_or_else(|| CallError::transient(format!("{} answered with malformed JSON", endpoint.dialect.name())))?;
    let mut reply = match endpoint.dialect {
        Dialect::Gemini => gemini::decode(value, step)?,
        Dialect::OpenAi => openai::decode(value)?,
    };
    reply.provider = endpoint.dialect.name().to_owned();
    reply.model = endpoint.model.clone();
    reply.usage.model_calls = 1;
    Ok(reply)
}

/// A reqwest error described without its URL (which is ours, but may carry a key in a query).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    format!("model call {kind}")
}

fn http_error(endpoint: &Endpoint, status: reqwest::StatusCode, retry_after: Option<Duration>, body: Option<&Value>) -> CallError {
    let message = body
        .and_then(|b| b.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(|m| m.chars().take(300).collect::<String>())
        .unwrap_or_default();
    let detail = format!("{} answered HTTP {}: {message}", endpoint.dialect.name(), status.as_u16());
    match status.as_u16() {
        408 | 409 | 425 | 429 | 500..=599 => CallError::Transient {
            detail,
            retry_after: retry_after.or_else(|| body.and_then(gemini::retry_delay)),
        },
        401 | 403 | 404 => CallError::Misconfigured(detail),
        _ => CallError::Rejected(detail),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by model providers).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}
