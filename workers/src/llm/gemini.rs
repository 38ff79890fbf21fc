//! Gemini `models/{model}:generateContent`: contents of `user` and `model` turns whose parts
//! are text, `functionCall` and `functionResponse`, and `tools.functionDeclarations`.

use std::time::Duration;

use schemas::agent::{ModelReply, ToolCall, Usage};
use serde_json::{json, Value};

use super::{CallError, Dialect, Entry, ModelRequest};

/// The request body.
pub fn encode(request: &ModelRequest<'_>) -> Value {
    let contents: Vec<Value> = request.entries.iter().map(content).collect();
    let declarations: Vec<Value> = request
        .tools
        .iter()
        .map(|tool| {
            let mut declaration = json!({ "name": tool.name, "description": tool.description });
            if let Some(parameters) = &tool.parameters {
                declaration["parameters"] = parameters.clone();
            }
            declaration
        })
        .collect();
    json!({
        "systemInstruction": { "parts": [{ "text": request.system }] },
        "contents": contents,
        "tools": [{ "functionDeclarations": declarations }],
    })
}

fn content(entry: &Entry<'_>) -> Value {
    match entry {
        Entry::User(text) => json!({ "role": "user", "parts": [{ "text": text }] }),
        Entry::Agent(text) => json!({ "role": "model", "parts": [{ "text": text }] }),
        Entry::Model(reply) => match &reply.native {
            // Replayed verbatim: Gemini checks the thought signatures its parts carry.
            Some(native) if reply.provider == Dialect::Gemini.name() => native.clone(),
            _ => {
                let mut parts: Vec<Value> = Vec::new();
                if !reply.text.is_empty() {
                    parts.push(json!({ "text": reply.text }));
                }
                parts.extend(
                    reply
                        .calls
                        .iter()
                        .map(|call| json!({ "functionCall": { "name": call.name, "args": call.args } })),
                );
                json!({ "role": "model", "parts": parts })
            }
        },
        Entry::Tools(results) => {
            let parts: Vec<Value> = results
                .iter()
                .map(|r| json!({ "functionResponse": { "name": r.name, "response": r.response } }))
                .collect();
            json!({ "role": "user", "parts": parts })
        }
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

