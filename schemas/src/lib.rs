//! Cartwright's wire and queue types. Nothing here does I/O: the ingress and the workers turn
//! bytes into these types and back, and the store persists them.
//!
//! # Layout
//! - [`a2a`]: A2A protocol 0.3 JSON-RPC objects (Message, Part, Task) and error codes.
//! - [`ucp`]: UCP 2026-01-11 checkout documents, money in integer minor units.
//! - [`action`]: the commerce actions a message can carry, parsed and validated.
//! - [`rest`]: the UCP REST binding's operations as queued, and their responses.
//! - [`agent`]: model replies, tool calls, session history and token usage.
//! - [`dead_letter`]: dead-lettered messages: why, where from, which task; the DLQ names.
//! - [`merchant`]: the merchant's name, currency and payment handlers.
//! - [`capabilities`]: the UCP capabilities this runtime implements, and those negotiated with a
//!   client, stored and queued by name.
//! - [`queue`]: the JetStream envelope, subjects, partition function and topology names.
//! - [`state`]: task states, how each is entered and left.
//! - [`redact`]: removes payment credentials from JSON, and card numbers from text, before
//!   either is stored, queued, logged or shown to a model.

pub mod a2a;
pub mod action;
pub mod agent;
pub mod capabilities;
pub mod dead_letter;
pub mod merchant;
pub mod queue;
pub mod redact;
pub mod rest;
pub mod state;
pub mod ucp;

pub use action::{Action, ActionError};
pub use queue::{partition_of, TaskEnvelope};
pub use state::TaskState;
