//! Gemini `models/{model}:generateContent`: contents of `user` and `model` turns whose parts
//! are text, `functionCall` and `functionResponse`, and `tools.functionDeclarations`.

use std::time::Duration;

use schemas::agent::{ModelReply, ToolCall, Usage};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::{CallError, Dialect, Entry, ModelRequest, ToolSpec};

/// The `tools` member of every request, encoded once.
pub fn encode_tools(tools: &[ToolSpec]) -> Box<RawValue> {
    let declarations: Vec<Value> = tools
        .iter()
        .map(|tool| {
            let mut declaration = json!({ "name": tool.name, "description": tool.description });
            if let Some(parameters) = &tool.parameters {
                declaration["parameters"] = parameters.clone();
            }
            declaration
        })
        .collect();
    serde_json::value::to_raw_value(&json!([{ "functionDeclarations": declarations }])).expect("tool declarations encode")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    system_instruction: Content<'a>,
    contents: Vec<Content<'a>>,
    tools: &'a RawValue,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    /// A model content replayed as the provider sent it.
    Native(&'a Value),
    Built {
        #[serde(skip_serializing_if = "Option::is_none")]
        role: Option<&'static str>,
        parts: Vec<Part<'a>>,
    },
}

/// `{"text": ...}`, `{"functionCall": {...}}` or `{"functionResponse": {...}}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Part<'a> {
    #[serde(rename = "text")]
    Text(&'a str),
    FunctionCall { name: &'a str, args: &'a Map<String, Value> },
    FunctionResponse { name: &'a str, response: &'a Map<String, Value> },
}

/// The request body, serialised straight from the conversation (nothing is copied).
pub fn encode(request: &ModelRequest<'_>) -> Vec<u8> {
    let body = Request {
        system_instruction: Content::Built {
            role: None,
            parts: vec![Part::Text(request.system)],
        },
        contents: request.entries.iter().map(content).collect(),
        tools: request.tools.gemini(),
    };
    serde_json::to_vec(&body).expect("a request encodes")
}

fn content<'a>(entry: &Entry<'a>) -> Content<'a> {
    let built = |role, parts| Content::Built { role: Some(role), parts };
    match *entry {
        Entry::User(text) => built("user", vec![Part::Text(text)]),
        Entry::Agent(text) => built("model", vec![Part::Text(text)]),
        Entry::Model(reply) => match &reply.native {
            // Replayed verbatim: Gemini checks the thought signatures its parts carry.
            Some(native) if reply.provider == Dialect::Gemini.name() => Content::Native(native),
            _ => {
                let text = (!reply.text.is_empty()).then_some(Part::Text(&reply.text));
                let calls = reply.calls.iter().map(|call| Part::FunctionCall {
                    name: &call.name,
                    args: &call.args,
                });
                built("model", text.into_iter().chain(calls).collect())
            }
        },
        Entry::Tools(results) => built(
            "user",
            results
                .iter()
                .map(|r| Part::FunctionResponse {
                    name: &r.name,
                    response: &r.response,
                })
                .collect(),
        ),
    }
}

/// Finish reasons that mean the answer was withheld: asking again will not help.
const BLOCKED: [&str; 7] = [
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "MALFORMED_FUNCTION_CALL",
];

/// The reply in a successful response. `step` names tool calls Gemini sent without an id.
pub fn decode(body: Value, step: usize) -> Result<ModelReply, CallError> {
    if let Some(reason) = body.pointer("/promptFeedback/blockReason").and_then(Value::as_str) {
        return Err(CallError::Rejected(format!("gemini blocked the request ({reason})")));
    }
    let candidate = body
        .pointer("/candidates/0")
        .ok_or_else(|| CallError::Rejected("gemini answered with no candidate".into()))?;
    let finish = candidate.get("finishReason").and_then(Value::as_str).unwrap_or("STOP");
    if BLOCKED.contains(&finish) {
        return Err(CallError::Rejected(format!("gemini withheld its answer ({finish})")));
    }
    let content = candidate.get("content").cloned().unwrap_or_else(|| json!({ "role": "model", "parts": [] }));
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in content.get("parts").and_then(Value::as_array).into_iter().flatten() {
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(call) = part.get("functionCall") {
            let name = call.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let id = match call.get("id").and_then(Value::as_str) {
                Some(id) => id.to_owned(),
                None => format!("{step}.{}", calls.len()),
            };
            let args = call.get("args").and_then(Value::as_object).cloned().unwrap_or_default();
            calls.push(ToolCall { id, name, args });
        }
    }
    if text.is_empty() && calls.is_empty() && finish != "STOP" {
        return Err(CallError::Rejected(format!("gemini returned no answer ({finish})")));
    }
    let usage = body.get("usageMetadata").map(usage).unwrap_or_default();
    Ok(ModelReply {
        provider: String::new(),
        model: String::new(),
        text,
        calls,
        usage,
        native: Some(content),
    })
}

fn usage(metadata: &Value) -> Usage {
    let count = |key: &str| metadata.get(key).and_then(Value::as_i64).unwrap_or(0);
    let prompt = count("promptTokenCount");
    let completion = count("candidatesTokenCount") + count("thoughtsTokenCount");
    let total = match count("totalTokenCount") {
        0 => prompt + completion,
        total => total,
    };
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: total,
        model_calls: 0,
    }
}

/// The wait a Gemini 429 asks for in its `google.rpc.RetryInfo` detail (`"retryDelay": "30s"`).
pub fn retry_delay(body: &Value) -> Option<Duration> {
    body.pointer("/error/details")?
        .as_array()?
        .iter()
        .filter_map(|detail| detail.get("retryDelay")?.as_str())
        .find_map(|delay| delay.strip_suffix('s')?.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

