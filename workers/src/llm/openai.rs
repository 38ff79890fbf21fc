//! OpenAI-compatible `chat/completions` (OpenAI, vLLM, Ollama, llama.cpp): `system`, `user`,
//! `assistant` (with `tool_calls`) and `tool` messages, and `tools` of type `function`.

use schemas::agent::{ModelReply, ToolCall, Usage};
use serde_json::{json, Map, Value};

use super::{CallError, Dialect, Entry, ModelRequest};

/// The request body.
pub fn encode(request: &ModelRequest<'_>, model: &str) -> Value {
    let mut messages = vec![json!({ "role": "system", "content": request.system })];
    for entry in request.entries {
        match entry {
            Entry::User(text) => messages.push(json!({ "role": "user", "content": text })),
            Entry::Agent(text) => messages.push(json!({ "role": "assistant", "content": text })),
            Entry::Model(reply) => messages.push(match &reply.native {
                Some(native) if reply.provider == Dialect::OpenAi.name() => native.clone(),
                _ => assistant(reply),
            }),
            Entry::Tools(results) => messages.extend(results.iter().map(|r| {
                json!({
                    "role": "tool",
                    "tool_call_id": r.id,
                    "content": Value::Object(r.response.clone()).to_string(),
                })
            })),
        }
    }
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(|tool| {
            let parameters = tool
                .parameters
                .clone()
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
            json!({
                "type": "function",
                "function": { "name": tool.name, "description": tool.description, "parameters": parameters },
            })
        })
        .collect();
    json!({ "model": model, "messages": messages, "tools": tools })
}

fn assistant(reply: &ModelReply) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": if reply.text.is_empty() { Value::Null } else { Value::String(reply.text.clone()) },
    });
    if !reply.calls.is_empty() {
        message["tool_calls"] = reply
            .calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": { "name": call.name, "arguments": Value::Object(call.args.clone()).to_string() },
                })
            })
            .collect();
    }
    message
}

/// The reply in a successful response.
pub fn decode(body: Value) -> Result<ModelReply, CallError> {
    let choice = body
        .pointer("/choices/0")
        .ok_or_else(|| CallError::Rejected("the model answered with no choice".into()))?;
    let finish = choice.get("finish_reason").and_then(Value::as_str).unwrap_or("stop");
    if finish == "content_filter" {
        return Err(CallError::Rejected("the model's answer was withheld by its content filter".into()));
    }
    let message = choice.get("message").cloned().unwrap_or_else(|| json!({ "role": "assistant" }));
    let text = message.get("content").and_then(Value::as_str).unwrap_or_default().to_owned();
    let calls: Vec<ToolCall> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, call)| {
            let function = call.get("function");
            let name = function
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            // Arguments arrive as a JSON string; a model that sends garbage gets the tool's
            // "missing parameter" answer and can try again.
            let args = function
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
                .and_then(|a| serde_json::from_str::<Map<String, Value>>(a).ok())
                .unwrap_or_default();
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{i}"), str::to_owned);
            ToolCall { id, name, args }
        })
        .collect();
    if text.is_empty() && calls.is_empty() {
        return Err(CallError::Rejected(format!("the model returned no answer ({finish})")));
    }
    let usage = body.get("usage").map(usage).unwrap_or_default();
    Ok(ModelReply {
        provider: String::new(),
        model: String::new(),
        text,
        calls,
        usage,
        native: Some(message),
    })
}

fn usage(usage: &Value) -> Usage {
    let count = |key: &str| usage.get(key).and_then(Value::as_i64).unwrap_or(0);
    let prompt = count("prompt_tokens");
    let completion = count("completion_tokens");
    let total = match count("total_tokens") {
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
