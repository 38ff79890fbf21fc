//! OpenAI-compatible `chat/completions` (OpenAI, vLLM, Ollama, llama.cpp): `system`, `user`,
//! `assistant` (with `tool_calls`) and `tool` messages, and `tools` of type `function`.

use schemas::agent::{ModelReply, ToolCall, Usage};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::{CallError, Dialect, Entry, ModelRequest, ToolSpec};

/// The `tools` member of every request, encoded once.
pub fn encode_tools(tools: &[ToolSpec]) -> Box<RawValue> {
    let tools: Vec<Value> = tools
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
    serde_json::value::to_raw_value(&tools).expect("tools encode")
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: Vec<Message<'a>>,
    tools: &'a RawValue,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Message<'a> {
    /// An assistant message replayed as the provider sent it.
    Native(&'a Value),
    Text {
        role: &'static str,
        content: &'a str,
    },
    Assistant {
        role: &'static str,
        content: Option<&'a str>,
        tool_calls: Vec<Call<'a>>,
    },
    Tool {
        role: &'static str,
        tool_call_id: &'a str,
        content: String,
    },
}

#[derive(Serialize)]
struct Call<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    /// A JSON object, as a string (the wire format's choice).
    arguments: String,
}

fn object_string(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}

/// The request body, serialised straight from the conversation.
pub fn encode(request: &ModelRequest<'_>, model: &str) -> Vec<u8> {
    let mut messages = vec![Message::Text {
        role: "system",
        content: request.system,
    }];
    for entry in request.entries {
        match *entry {
            Entry::User(text) => messages.push(Message::Text { role: "user", content: text }),
            Entry::Agent(text) => messages.push(Message::Text {
                role: "assistant",
                content: text,
            }),
            Entry::Model(reply) => messages.push(match &reply.native {
                Some(native) if reply.provider == Dialect::OpenAi.name() => Message::Native(native),
                _ => Message::Assistant {
                    role: "assistant",
                    content: (!reply.text.is_empty()).then_some(reply.text.as_str()),
                    tool_calls: reply
                        .calls
                        .iter()
                        .map(|call| Call {
                            id: &call.id,
                            kind: "function",
                            function: Function {
                                name: &call.name,
                                arguments: object_string(&call.args),
                            },
                        })
                        .collect(),
                },
            }),
            Entry::Tools(results) => messages.extend(results.iter().map(|r| Message::Tool {
                role: "tool",
                tool_call_id: &r.id,
                content: object_string(&r.response),
            })),
        }
    }
    let body = Request {
        model,
        messages,
        tools: request.tools.openai(),
    };
    serde_json::to_vec(&body).expect("a request encodes")
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
            // Arguments arrive as a JSON string (some self-hosted servers send the object
            // itself); a model that sends garbage gets the tool's "missing parameter" answer
            // and can try again.
            let args = match function.and_then(|f| f.get("arguments")) {
                Some(Value::String(text)) => serde_json::from_str::<Map<String, Value>>(text).unwrap_or_default(),
                Some(Value::Object(object)) => object.clone(),
                _ => Map::new(),
            };
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reply(arguments: Value) -> ModelReply {
        decode(json!({
            "choices": [{
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "id": "call_1",
                        "type": "function",
                        "function": { "name": "search_shopping_catalog", "arguments": arguments }
                    }]
                }
            }]
        }))
        .expect("a tool call decodes")
    }

    #[test]
    fn arguments_as_a_json_string_or_an_object() {
        for arguments in [json!("{\"query\":\"roses\"}"), json!({ "query": "roses" })] {
            let reply = reply(arguments);
            assert_eq!(reply.calls.len(), 1);
            assert_eq!(reply.calls[0].name, "search_shopping_catalog");
            assert_eq!(reply.calls[0].args.get("query"), Some(&json!("roses")));
        }
    }

    #[test]
    fn garbage_arguments_become_no_arguments() {
        assert!(reply(json!("not json")).calls[0].args.is_empty());
        assert!(reply(json!(null)).calls[0].args.is_empty());
    }

    #[test]
    fn an_empty_answer_is_a_rejection() {
        let error = decode(json!({ "choices": [{ "finish_reason": "length", "message": { "content": null } }] }));
        assert!(matches!(error, Err(CallError::Rejected(_))), "{error:?}");
    }
}
