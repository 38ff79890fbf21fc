//! The agent's documents: what a model said in one step of a turn (journaled), the exchanges a
//! session keeps as history, and what a turn cost. Dialect-neutral: each provider's wire format
//! is translated to and from these by the worker's `llm` module.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One model response: its text, the tools it asked for, what it cost, and the provider's own
/// content (replayed verbatim to the same provider, which may need it, e.g. Gemini's thought
/// signatures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReply {
    /// The provider that answered (`gemini` or `openai`).
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub calls: Vec<ToolCall>,
    #[serde(default)]
    pub usage: Usage,
    /// The provider's content object for this reply, as it sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<Value>,
}

/// A tool the model asked to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's call id (OpenAI's `tool_calls[].id`; Gemini's optional `functionCall.id`,
    /// or one minted from the step and position when it sends none).
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub args: Map<String, Value>,
}

/// A tool's result, as the model is shown it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub id: String,
    pub name: String,
    pub response: Map<String, Value>,
}

/// Tokens as the providers report them, summed over a turn's model calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    /// Model calls made (journaled replies replayed after a crash are not counted twice).
    #[serde(default)]
    pub model_calls: i64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        self.model_calls += other.model_calls;
    }
}

/// One turn of a session's history: what the user said and what the agent answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub user: String,
    pub agent: String,
}
