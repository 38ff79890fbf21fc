//! A2A protocol 0.3 objects as they appear on the JSON-RPC wire (camelCase, `kind` tags).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::TaskState;

/// The A2A protocol version the agent card advertises.
pub const PROTOCOL_VERSION: &str = "0.3.0";

/// JSON-RPC and A2A error codes.
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    pub const TASK_NOT_FOUND: i64 = -32001;
    pub const TASK_NOT_CANCELABLE: i64 = -32002;
    pub const UNSUPPORTED_OPERATION: i64 = -32004;
    pub const CONTENT_TYPE_NOT_SUPPORTED: i64 = -32005;
    /// Cartwright's own (JSON-RPC's implementation-defined range): the caller's daily model
    /// token budget is spent.
    pub const TOKEN_BUDGET_EXHAUSTED: i64 = -32050;
    /// Too many requests from this principal or client IP (HTTP 429).
    pub const RATE_LIMITED: i64 = -32051;
    /// The ingress is at capacity (HTTP 503); retry shortly.
    pub const OVERLOADED: i64 = -32052;
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Agent,
}

/// The constant `kind` of a message object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Message,
}

/// The constant `kind` of a task object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    #[default]
    Task,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(default)]
    pub kind: MessageKind,
    pub message_id: String,
    pub role: Role,
    pub parts: Vec<Part>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_task_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl Message {
    /// Replaces payment credentials and other secrets in every part and in the metadata, and
    /// masks card numbers typed into text (see [`crate::redact`]): the message may then be
    /// stored.
    pub fn redact_secrets(&mut self) {
        for part in &mut self.parts {
            let (payload, metadata) = match part {
                Part::Text { text, metadata } => {
                    if let std::borrow::Cow::Owned(masked) = crate::redact::mask_card_numbers(text) {
                        *text = masked;
                    }
                    (None, metadata)
                }
                Part::Data { data, metadata } => (Some(data), metadata),
                Part::File { file, metadata } => {
                    crate::redact::redact_secrets(file);
                    (None, metadata)
                }
            };
            payload
                .into_iter()
                .chain(metadata.as_mut())
                .for_each(crate::redact::redact_map);
        }
        if let Some(metadata) = &mut self.metadata {
            crate::redact::redact_map(metadata);
        }
    }

    /// An agent message with the given parts.
    pub fn agent(message_id: String, context_id: &str, task_id: &str, parts: Vec<Part>) -> Self {
        Message {
            kind: MessageKind::Message,
            message_id,
            role: Role::Agent,
            parts,
            context_id: Some(context_id.to_owned()),
            task_id: Some(task_id.to_owned()),
            reference_task_ids: None,
            extensions: None,
            metadata: None,
        }
    }
}

/// A piece of a message or artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Part {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<Map<String, Value>>,
    },
    Data {
        data: Map<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<Map<String, Value>>,
    },
    File {
        file: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<Map<String, Value>>,
    },
}

impl Part {
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text {
            text: text.into(),
            metadata: None,
        }
    }

    pub fn data(data: Map<String, Value>) -> Part {
        Part::Data { data, metadata: None }
    }
}

/// A task's current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// An output of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub artifact_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub parts: Vec<Part>,
}

/// The unit of work A2A clients create with `message/send` and read with `tasks/get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    #[serde(default)]
    pub kind: TaskKind,
    pub id: String,
    pub context_id: String,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<Message>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Vec<Artifact>>,
    /// Cartwright puts the turn's token usage here, as `{"usage": {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// `message/send` parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSendParams {
    pub message: Message,
    #[serde(default)]
    pub configuration: Option<MessageSendConfiguration>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// How the client wants `message/send` answered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSendConfiguration {
    #[serde(default)]
    pub blocking: Option<bool>,
    #[serde(default)]
    pub history_length: Option<u32>,
    #[serde(default)]
    pub accepted_output_modes: Option<Vec<String>>,
    #[serde(default)]
    pub push_notification_config: Option<Value>,
}

/// `tasks/get` parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskQueryParams {
    pub id: String,
    #[serde(default)]
    pub history_length: Option<u32>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// `tasks/cancel` parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdParams {
    pub id: String,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sample_clients_message() {
        let json = r#"{"role":"user","kind":"message","messageId":"m1",
            "parts":[{"kind":"text","text":"hello"},{"kind":"data","data":{"action":"get_checkout"}}],
            "contextId":"c1"}"#;
        let message: Message = serde_json::from_str(json).unwrap();
        assert_eq!(message.role, Role::User);
        assert_eq!(message.parts.len(), 2);
        assert_eq!(message.context_id.as_deref(), Some("c1"));
    }

    #[test]
    fn task_serialises_with_kind_and_camel_case() {
        let task = Task {
            kind: TaskKind::Task,
            id: "t".into(),
            context_id: "c".into(),
            status: TaskStatus {
                state: TaskState::InputRequired,
                message: None,
                timestamp: None,
            },
            history: None,
            artifacts: None,
            metadata: None,
        };
        let value = serde_json::to_value(&task).unwrap();
        assert_eq!(value["kind"], "task");
        assert_eq!(value["contextId"], "c");
        assert_eq!(value["status"]["state"], "input-required");
    }
}
